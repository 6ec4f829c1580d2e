"""Fridge items: creation, lookup, expiry queries and the ExpiringItems announcements."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import Select, or_, select, update

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.models import FridgeItem, User, isoformat, utcnow
from itcook.signals import emit, items_expiring

log = logging.getLogger(__name__)

MAX_EXPIRY_DAYS = 365


def today_utc() -> dt.date:
    """The current calendar day in UTC, the day the once-a-day rule counts in."""
    return utcnow().date()


def item_to_dict(item: FridgeItem, today: dt.date | None = None) -> dict[str, Any]:
    """The JSON shape of an item; ``days_left`` is negative once it has expired."""
    today = today or today_utc()
    return {
        "id": item.id,
        "name": item.name,
        "quantity": item.quantity,
        "unit": item.unit,
        "expires_on": item.expires_on.isoformat(),
        "days_left": (item.expires_on - today).days,
        "created_at": isoformat(item.created_at),
    }


def announced_to_dict(item: FridgeItem, today: dt.date) -> dict[str, Any]:
    """The shape of one item in the ``items_expiring`` signal."""
    return {"id": item.id, "name": item.name, "expires_on": item.expires_on.isoformat(),
            "days_left": (item.expires_on - today).days}


def create_item(user_id: int, name: str, quantity: float | None, unit: str | None,
                expires_on: dt.date) -> FridgeItem:
    """Add an item to the user's fridge and commit."""
    item = FridgeItem(user_id=user_id, name=name, quantity=quantity, unit=unit,
                      expires_on=expires_on)
    db.session.add(item)
    db.session.commit()
    return item


def items_stmt(user_id: int) -> Select[Any]:
    """The user's items, soonest expiry first (id breaks ties for a stable page order)."""
    return (select(FridgeItem).where(FridgeItem.user_id == user_id)
            .order_by(FridgeItem.expires_on, FridgeItem.id))


def get_item(user_id: int, item_id: int) -> FridgeItem:
    """Return the user's item; 404 also for another user's item (its existence is private)."""
    item = db.session.get(FridgeItem, item_id)
    if item is None or item.user_id != user_id:
        raise ApiError(404, "not_found", "no such fridge item")
    return item


def delete_item(user_id: int, item_id: int) -> None:
    """Remove the user's item and commit."""
    db.session.delete(get_item(user_id, item_id))
    db.session.commit()


def expiring_items(user_id: int, days: int, today: dt.date | None = None) -> list[FridgeItem]:
    """The user's items expiring on or before ``today + days``, expired ones included."""
    today = today or today_utc()
    limit = today + dt.timedelta(days=days)
    return list(db.session.scalars(items_stmt(user_id).where(FridgeItem.expires_on <= limit)))


def notify_expiring(user_id: int, days: int, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Announce the user's expiring items not yet announced today; return those announced."""
    today = today or today_utc()
    items = _claim(today, days, FridgeItem.user_id == user_id)
    # Rendered before the commit, which expires the objects (no reload per item after it).
    shown = [item_to_dict(i, today) for i in items]
    payload = [announced_to_dict(i, today) for i in items]
    if payload:
        emit(items_expiring, user_id=user_id, items=payload, days=days)
    db.session.commit()
    return shown


def scan_expiring(days: int, today: dt.date | None = None) -> int:
    """Announce every active user's expiring items (once a day); return users notified."""
    today = today or today_utc()
    active = FridgeItem.user_id.in_(select(User.id).where(User.is_active.is_(True)))
    by_user: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in _claim(today, days, active):
        by_user[item.user_id].append(announced_to_dict(item, today))
    # The marks and the announcements commit together: a failure leaves both to the next scan.
    for user_id, payload in sorted(by_user.items()):
        emit(items_expiring, user_id=user_id, items=payload, days=days)
    db.session.commit()
    notified = len(by_user)
    return notified


def _claim(today: dt.date, days: int, *where: Any) -> list[FridgeItem]:
    """Mark the due items as announced today and return them, soonest expiry first.

    One conditional UPDATE ... RETURNING: two concurrent announcers (a request and the scan,
    or the scans of two worker processes) cannot both claim an item, because the second
    UPDATE re-checks ``last_notified_on`` on the row the first one committed. ``<`` rather
    than ``!=`` so a host whose clock is still on yesterday does not announce again.
    """
    limit = today + dt.timedelta(days=days)
    stmt = (update(FridgeItem)
            .where(FridgeItem.expires_on <= limit, *where,
                   or_(FridgeItem.last_notified_on.is_(None), FridgeItem.last_notified_on < today))
            .values(last_notified_on=today)
            .returning(FridgeItem)
            .execution_options(synchronize_session="fetch"))
    items = list(db.session.scalars(stmt))
    return sorted(items, key=lambda i: (i.expires_on, i.id))
