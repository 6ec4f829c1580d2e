"""Nearby: opt-in areas, offers matched to the areas that hold them, first-claim-wins claims.

Every point is coarsened (``geo.coarsen``) before it is stored; nothing exact leaves the request.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.i18n import N_
from itcook.locking import lock_for_update
from itcook.models import (
    FridgeItem,
    NearbyArea,
    NearbyBlock,
    NearbyOffer,
    NearbyRecipient,
    User,
    isoformat,
    utcnow,
)
from itcook.nearby.geo import EARTH_RADIUS_M, coarsen, distance_km
from itcook.nearby.spatial import AreaHit, areas_containing, write_area
from itcook.signals import emit, nearby_offer_claimed, nearby_offer_created

#: At most this many offers in a listing (nearest first).
LIST_LIMIT = 100


def _km(value: float) -> float:
    return round(value, 1)


def area_to_dict(area: NearbyArea) -> dict[str, Any]:
    """The user's own area, as stored (coarsened)."""
    return {"approx_lat": area.lat, "approx_lon": area.lon, "radius_km": area.radius_km,
            "updated_at": isoformat(area.updated_at)}


def set_area(user: User, lat: float, lon: float, radius_km: float) -> NearbyArea:
    """Opt in (or move): store the coarsened centre and radius, index it, commit."""
    clat, clon = coarsen(lat, lon)
    area = db.session.get(NearbyArea, user.id)
    if area is None:
        area = NearbyArea(user_id=user.id)
        db.session.add(area)
    area.lat, area.lon, area.radius_km, area.updated_at = clat, clon, radius_km, utcnow()
    db.session.flush()
    write_area(db.session.connection(), user.id, clat, clon, radius_km)
    db.session.commit()
    return area


def get_area(user: User) -> NearbyArea:
    """The user's area, or 404 ``not_opted_in``."""
    area = db.session.get(NearbyArea, user.id)
    if area is None:
        raise ApiError(404, "not_opted_in", "you have not set a Nearby area")
    return area


def delete_area(user: User) -> None:
    """Opt out: the area (and its index entries) are deleted."""
    db.session.execute(NearbyArea.__table__.delete().where(NearbyArea.user_id == user.id))
    db.session.commit()


def _rate_limit(column: Any, since_column: Any, user_id: int, limit: int, message: str) -> None:
    # ``message``: a msgid with ``%(limit)d``.
    # The user's row lock makes count-then-write hold when one user sends requests in parallel.
    lock_for_update(User, user_id)
    since = utcnow() - dt.timedelta(hours=1)
    count = db.session.scalar(select(func.count()).select_from(NearbyOffer)
                              .where(column == user_id, since_column >= since)) or 0
    if count >= limit:
        raise ApiError(429, "rate_limited", message, limit=limit)


def offer_to_dict(offer: NearbyOffer, now: dt.datetime | None = None) -> dict[str, Any]:
    """An offer's public shape: the coarsened point only."""
    now = now or utcnow()
    status = offer.status if offer.status != "open" or offer.pickup_until > now else "expired"
    return {"id": offer.id, "title": offer.title, "approx_lat": offer.approx_lat,
            "approx_lon": offer.approx_lon, "pickup_until": isoformat(offer.pickup_until),
            "status": status, "items": offer.items, "created_at": isoformat(offer.created_at)}


def matching_users(author_id: int, lat: float, lon: float) -> list[AreaHit]:
    """The active opted-in users, other than the author and those they block, whose area holds
    the (coarsened) point."""
    hits = [h for h in areas_containing(db.session.connection(), lat, lon) if h.user_id != author_id]
    if not hits:
        return []
    ids = [h.user_id for h in hits]
    blocked = set(db.session.scalars(select(NearbyBlock.blocked_id).where(
        NearbyBlock.user_id == author_id, NearbyBlock.blocked_id.in_(ids))))
    active = set(db.session.scalars(select(User.id).where(User.id.in_(ids), User.is_active)))
    return [h for h in hits if h.user_id in active and h.user_id not in blocked]


def create_offer(user: User, title: str, lat: float, lon: float, pickup_until: dt.datetime,
                 fridge_item_ids: list[int] | None) -> NearbyOffer:
    """Post an offer and tell every opted-in user whose area holds it (NearbyOffer)."""
    config = current_app.config
    now = utcnow()
    if pickup_until <= now:
        raise ApiError(400, "invalid_field", "pickup_until: must be in the future")
    if pickup_until > now + dt.timedelta(hours=config["NEARBY_MAX_PICKUP_HOURS"]):
        raise ApiError(400, "invalid_field", "pickup_until: at most %(hours)s hours from now",
                       hours=config["NEARBY_MAX_PICKUP_HOURS"])
    _rate_limit(NearbyOffer.user_id, NearbyOffer.created_at, user.id,
                config["NEARBY_OFFERS_PER_HOUR"], N_("at most %(limit)d offers an hour; try again later"))
    items: list[dict[str, Any]] = []
    if fridge_item_ids:
        found = list(db.session.scalars(select(FridgeItem).where(
            FridgeItem.user_id == user.id, FridgeItem.id.in_(fridge_item_ids)).order_by(FridgeItem.id)))
        if len(found) != len(set(fridge_item_ids)):
            raise ApiError(400, "invalid_field", "fridge_item_ids: not all are items of your fridge")
        items = [{"id": i.id, "name": i.name, "quantity": i.quantity, "unit": i.unit,
                  "expires_on": i.expires_on.isoformat()} for i in found]
    clat, clon = coarsen(lat, lon)
    offer = NearbyOffer(user_id=user.id, title=title, approx_lat=clat, approx_lon=clon,
                        pickup_until=pickup_until, status="open", items=items, created_at=now)
    db.session.add(offer)
    db.session.flush()
    hits = matching_users(user.id, clat, clon)
    db.session.add_all(NearbyRecipient(offer_id=offer.id, user_id=h.user_id) for h in hits)
    # Sent before the commit: the events are written in this transaction (docs/outbox.md).
    emit(nearby_offer_created, offer_id=offer.id, title=title, approx_lat=clat, approx_lon=clon,
         pickup_until=isoformat(pickup_until), by_id=user.id, by_name=user.display_name,
         recipients=[{"user_id": h.user_id, "distance_km": _km(h.distance_km)} for h in hits])
    db.session.commit()
    return offer


def _blocked_by(offerer_id: int, user_id: int) -> bool:
    return db.session.get(NearbyBlock, (offerer_id, user_id)) is not None


def list_offers(user: User, lat: float, lon: float, radius_km: float) -> list[dict[str, Any]]:
    """Open offers within ``radius_km`` of the point, nearest first, with ``distance_km``."""
    now = utcnow()
    dlat = math.degrees(radius_km * 1000 / EARTH_RADIUS_M) + 0.01
    blockers = select(NearbyBlock.user_id).where(NearbyBlock.blocked_id == user.id)
    stmt = (select(NearbyOffer, User.display_name).join(User, User.id == NearbyOffer.user_id)
            .where(NearbyOffer.status == "open", NearbyOffer.pickup_until > now,
                   NearbyOffer.approx_lat.between(lat - dlat, lat + dlat),
                   NearbyOffer.user_id.not_in(blockers)))
    found = []
    for offer, by_name in db.session.execute(stmt):
        d = distance_km(lat, lon, offer.approx_lat, offer.approx_lon)
        if d <= radius_km:
            found.append((d, offer.id, {**offer_to_dict(offer, now), "distance_km": _km(d),
                                        "by_name": by_name, "mine": offer.user_id == user.id}))
    found.sort(key=lambda t: (t[0], t[1]))
    return [entry for _, _, entry in found[:LIST_LIMIT]]


def get_offer(user: User, offer_id: int) -> NearbyOffer:
    """An offer the user may see, or 404 (also when its author blocks the user)."""
    offer = db.session.get(NearbyOffer, offer_id)
    if offer is None or _blocked_by(offer.user_id, user.id):
        raise ApiError(404, "not_found", "no such offer")
    return offer


def claim_offer(user: User, offer_id: int) -> NearbyOffer:
    """Claim an open offer; exactly one concurrent claim wins (one conditional UPDATE)."""
    offer = get_offer(user, offer_id)
    if offer.user_id == user.id:
        raise ApiError(400, "own_offer", "you cannot claim your own offer")
    _rate_limit(NearbyOffer.claimed_by, NearbyOffer.claimed_at, user.id,
                current_app.config["NEARBY_CLAIMS_PER_HOUR"],
                N_("at most %(limit)d claims an hour; try again later"))
    now = utcnow()
    won = db.session.execute(
        update(NearbyOffer)
        .where(NearbyOffer.id == offer_id, NearbyOffer.status == "open", NearbyOffer.pickup_until > now)
        .values(status="claimed", claimed_by=user.id, claimed_at=now)
        .execution_options(synchronize_session=False)).rowcount == 1
    if not won:
        db.session.rollback()
        offer = get_offer(user, offer_id)
        if offer.status == "claimed":
            raise ApiError(409, "already_claimed", "someone else claimed this offer first")
        raise ApiError(409, "offer_expired", "this offer's pickup window is over")
    recipients = list(db.session.scalars(select(NearbyRecipient.user_id).where(
        NearbyRecipient.offer_id == offer_id).order_by(NearbyRecipient.user_id)))
    offerer_id = offer.user_id
    emit(nearby_offer_claimed, offer_id=offer_id, offerer_id=offerer_id, by_id=user.id,
         by_name=user.display_name, recipients=recipients)
    db.session.commit()
    return offer


def block(user: User, blocked_id: int) -> None:
    """Keep ``blocked_id`` from hearing of, seeing or claiming the user's offers (idempotent)."""
    if blocked_id == user.id:
        raise ApiError(400, "invalid_field", "user_id: you cannot block yourself")
    if db.session.get(User, blocked_id) is None:
        raise ApiError(404, "not_found", "no such user")
    if db.session.get(NearbyBlock, (user.id, blocked_id)) is None:
        db.session.add(NearbyBlock(user_id=user.id, blocked_id=blocked_id))
        db.session.commit()


def unblock(user: User, blocked_id: int) -> None:
    """Lift a block (idempotent)."""
    db.session.execute(NearbyBlock.__table__.delete().where(
        NearbyBlock.user_id == user.id, NearbyBlock.blocked_id == blocked_id))
    db.session.commit()


def blocked_ids(user: User) -> list[int]:
    """The users this user blocks."""
    return list(db.session.scalars(select(NearbyBlock.blocked_id).where(
        NearbyBlock.user_id == user.id).order_by(NearbyBlock.blocked_id)))
