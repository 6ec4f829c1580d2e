"""Web Push subscriptions and preferences: strict validation, storage, lookups for the sender."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.locking import lock_for_update
from itcook.models import PushBudget, PushPreference, PushSubscription, User, isoformat, utcnow
from itcook.notifications import PUSH_TYPES
from itcook.push import egress
from itcook.push.vapid import b64url_decode
from itcook.validation import get_object, get_str, invalid_field

ENDPOINT_MAX = 2048
#: Subscriptions kept per user (browsers, devices); a new one past it replaces the oldest.
MAX_PER_USER = 10


@dataclass(frozen=True, slots=True)
class Target:
    """What the sender needs of one subscription, detached from any database session."""

    id: int
    endpoint: str
    p256dh: str
    auth: str

    def info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


# --- validation ------------------------------------------------------------------------------

def allowed_schemes() -> tuple[str, ...]:
    """The endpoint schemes this server accepts (``http`` only with ``PUSH_ALLOW_HTTP``)."""
    return ("https", "http") if current_app.config["PUSH_ALLOW_HTTP"] else ("https",)


def _endpoint(body: dict[str, Any]) -> str:
    endpoint = get_str(body, "endpoint", max_len=ENDPOINT_MAX, strip=False)
    assert endpoint is not None
    try:
        egress.check(endpoint, allowed_schemes(), resolve=True,
                     allow_private=current_app.config["PUSH_ALLOW_PRIVATE_ADDRESSES"])
    except egress.NotPublic as exc:
        current_app.extensions["push"].sender.counters["subscription_refused"] += 1
        raise ApiError(400, "endpoint_not_public", "endpoint: %(problem)s", problem=str(exc)) from None
    except ValueError as exc:
        raise invalid_field("endpoint", str(exc)) from None
    return endpoint


def _key(keys: dict[str, Any], name: str, size: int) -> str:
    value = get_str(keys, name, max_len=100, strip=False)
    assert value is not None
    try:
        raw = b64url_decode(value)
    except ValueError:
        raise invalid_field("keys." + name, "must be base64url") from None
    if len(raw) != size:
        raise invalid_field("keys." + name, "must decode to %(size)d bytes", size=size)
    if name == "p256dh":
        try:  # an uncompressed point on P-256, or the encryption to it would fail later
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            # 65 bytes that do not start with 0x04 (uncompressed) do not decode either.
            raise invalid_field("keys.p256dh", "must be an uncompressed P-256 public key") from None
    return value.rstrip("=")


def parse_subscription(body: dict[str, Any]) -> tuple[str, str, str]:
    """``(endpoint, p256dh, auth)`` of a browser's ``PushSubscription.toJSON()``, checked strictly."""
    endpoint = _endpoint(body)
    expiration = body.get("expirationTime")
    if expiration is not None and (isinstance(expiration, bool)
                                   or not isinstance(expiration, int | float) or expiration < 0):
        raise invalid_field("expirationTime", "must be null or a time in milliseconds")
    keys = get_object(body, "keys")
    return endpoint, _key(keys, "p256dh", 65), _key(keys, "auth", 16)


# --- subscriptions ---------------------------------------------------------------------------

def _to_dict(sub: PushSubscription) -> dict[str, Any]:
    return {"id": sub.id, "endpoint": sub.endpoint, "created_at": isoformat(sub.created_at)}


def subscribe(user: User, endpoint: str, p256dh: str, auth: str) -> tuple[dict[str, Any], bool]:
    """Store a subscription for ``user``; True if new. A known endpoint moves to this user."""
    # Held until the commit: concurrent subscriptions of this user trim one after the other,
    # so that at most MAX_PER_USER survive.
    lock_for_update(User, user.id)
    sub = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    created = sub is None
    if sub is None:
        sub = PushSubscription(user_id=user.id, endpoint=endpoint, p256dh=p256dh, auth=auth,
                               created_at=utcnow())
        db.session.add(sub)
    else:
        # The same browser, re-subscribed or now logged in as another user: its pushes follow.
        sub.user_id, sub.p256dh, sub.auth = user.id, p256dh, auth
    try:
        db.session.flush()
    except IntegrityError:  # the same endpoint registered concurrently: keep that one
        db.session.rollback()
        return subscribe(user, endpoint, p256dh, auth)
    old = list(db.session.scalars(select(PushSubscription.id).where(PushSubscription.user_id == user.id)
                                  .order_by(PushSubscription.id.desc()).offset(MAX_PER_USER)))
    if old:
        db.session.execute(delete(PushSubscription).where(PushSubscription.id.in_(old)))
    db.session.commit()
    return _to_dict(sub), created


def unsubscribe(user: User, endpoint: str) -> None:
    """Forget the user's subscription with this endpoint (idempotent)."""
    db.session.execute(delete(PushSubscription).where(PushSubscription.user_id == user.id,
                                                      PushSubscription.endpoint == endpoint))
    db.session.commit()


def list_subscriptions(user: User) -> dict[str, Any]:
    """The user's subscriptions, oldest first (keys are not shown)."""
    subs = db.session.scalars(select(PushSubscription).where(PushSubscription.user_id == user.id)
                              .order_by(PushSubscription.id))
    return {"items": [_to_dict(sub) for sub in subs]}


def has_targets(user_id: int) -> bool:
    """Whether the user has any subscription (most users never turn push on: no job for them)."""
    return db.session.scalar(select(PushSubscription.id).where(PushSubscription.user_id == user_id)
                             .limit(1)) is not None


def targets(user_id: int) -> list[Target]:
    """Where to push for ``user_id``."""
    rows = db.session.execute(select(PushSubscription.id, PushSubscription.endpoint,
                                     PushSubscription.p256dh, PushSubscription.auth)
                              .where(PushSubscription.user_id == user_id))
    return [Target(row.id, row.endpoint, row.p256dh, row.auth) for row in rows]


def remove_target(target: Target) -> bool:
    """Drop a subscription the push service called gone (404/410), unless it was re-keyed since."""
    removed = db.session.execute(delete(PushSubscription).where(
        PushSubscription.id == target.id, PushSubscription.p256dh == target.p256dh)).rowcount  # type: ignore[attr-defined]
    db.session.commit()
    return bool(removed)


# --- preferences -----------------------------------------------------------------------------

def _disabled(user_id: int) -> set[str]:
    row = db.session.get(PushPreference, user_id)
    return set(row.disabled_types) if row is not None else set()


def preferences(user: User) -> dict[str, Any]:
    """Which notification types are pushed to the user (all, until they say otherwise)."""
    disabled = _disabled(user.id)
    return {"event_types": {event_type: event_type not in disabled for event_type in PUSH_TYPES}}


def parse_preferences(body: dict[str, Any]) -> dict[str, bool]:
    """The ``{"event_types": {type: bool}}`` of a PUT, checked against the known types."""
    changes = get_object(body, "event_types")
    for event_type, enabled in changes.items():
        if event_type not in PUSH_TYPES:
            raise invalid_field("event_types", "unknown type %(type)r (known: %(known)s)",
                                type=event_type[:40], known=", ".join(PUSH_TYPES))
        if not isinstance(enabled, bool):
            raise invalid_field("event_types." + event_type, "must be true or false")
    return changes


def update_preferences(user: User, changes: dict[str, bool]) -> dict[str, Any]:
    """Turn the named types on or off; types not named keep their setting."""
    disabled = _disabled(user.id)
    disabled |= {t for t, enabled in changes.items() if not enabled}
    disabled -= {t for t, enabled in changes.items() if enabled}
    row = db.session.get(PushPreference, user.id)
    if row is None:
        row = PushPreference(user_id=user.id)
        db.session.add(row)
    row.disabled_types, row.updated_at = sorted(disabled), utcnow()
    try:
        db.session.commit()
    except IntegrityError:  # a concurrent first PUT created the row: apply ours on top of it
        db.session.rollback()
        return update_preferences(user, changes)
    return preferences(user)


def push_enabled(user_id: int, event_type: str) -> bool:
    """Whether an event of this type may be pushed to the user."""
    return event_type in PUSH_TYPES and event_type not in _disabled(user_id)


# --- budget ----------------------------------------------------------------------------------

def take_budget(user_id: int, per_hour: int) -> bool:
    """Count one push to ``user_id`` in this clock hour; False once the hour's ``per_hour`` are spent.

    One row per user in the database, updated in one atomic upsert, so every process (and
    every host) draws on the same budget. ``per_hour`` 0 means no limit.
    """
    if per_hour <= 0:
        return True
    window = utcnow().replace(minute=0, second=0, microsecond=0)
    table = PushBudget.__table__
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(user_id=user_id, window_start=window, used=1)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.user_id], set_={
        "used": case((table.c.window_start == window, table.c.used + 1), else_=1),
        "window_start": window,
    }).returning(table.c.used)
    try:
        used = db.session.execute(stmt).scalar_one()
        db.session.commit()
    except IntegrityError:  # the user was deleted meanwhile: nobody to push to
        db.session.rollback()
        return False
    return bool(used <= per_hour)
