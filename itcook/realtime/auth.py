"""Who is connecting: bearer header, single-use ticket, or ``itcook.v1, bearer.<jwt>``; and origin rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, NamedTuple

from cachetools import TLRUCache
from flask import Request, current_app
from sqlalchemy import Column, DateTime, MetaData, String, Table, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from itcook.realtime.errors import RealtimeError

SUBPROTOCOL = "itcook.v1"
BEARER_PREFIX = "bearer."


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated connecting user; ``user_id`` is any JSON-safe hashable (int or str)."""

    user_id: Any
    name: str
    is_admin: bool = False  # may read the status page
    # The user's current session: a token or ticket issued under another one was revoked
    # (the host ended the account's sessions, or it names an earlier account). None: not checked.
    session: str | None = None


#: Resolves a user id to an active principal, or None (deleted, disabled). Set by the app.
PrincipalLoader = Callable[[Any], Principal | None]
#: The still active users among some user ids, each with its current session (one query): a
#: connection whose user is missing, or whose session is another, was revoked. Set by the app.
ActiveUsers = Callable[[list[Any]], dict[Any, str | None]]


class Credential(NamedTuple):
    """What a verified bearer token says: whose it is, its session, when it expires (epoch s)."""

    user_id: Hashable
    session: str | None = None
    expires_at: float = 0.0  # 0: not remembered (checked again on every handshake)


#: Verifies a bearer token: a ``Credential``, or a 401 ``RealtimeError``. Set by the app.
Authenticator = Callable[[str], Credential]


def jwt_authenticator(session_claim: str | None = None) -> Authenticator:
    """Verify flask-jwt-extended access tokens (the default when it is installed): the subject
    is the user id; ``session_claim`` names the claim that must equal ``Principal.session``."""
    from flask_jwt_extended import decode_token
    from flask_jwt_extended.exceptions import JWTExtendedException
    from jwt.exceptions import ExpiredSignatureError, InvalidTokenError

    def authenticate(token: str) -> Credential:
        if "flask-jwt-extended" not in current_app.extensions:  # installed, but not this app's
            raise RealtimeError(401, "invalid_token", "this server accepts no bearer tokens")
        try:
            claims = decode_token(token)
        except ExpiredSignatureError:
            raise RealtimeError(401, "token_expired", "the token has expired") from None
        except (InvalidTokenError, JWTExtendedException, ValueError, KeyError) as exc:
            # JWTExtendedException: a signed token without the claims flask-jwt-extended needs.
            raise RealtimeError(401, "invalid_token", f"invalid token: {exc}") from None
        if claims.get("type") != "access":
            raise RealtimeError(401, "invalid_token", "an access token is required, not a refresh token")
        session = claims.get(session_claim) if session_claim else None
        try:
            return Credential(claims["sub"], str(session) if session is not None else None,
                              float(claims.get("exp", 0)))
        except (KeyError, TypeError, ValueError):
            raise RealtimeError(401, "user_inactive", "the user of this credential does not exist") from None

    return authenticate


def define_ticket_table(metadata: MetaData) -> Table:
    """Declare ``realtime_tickets``: single-use tickets, shared by every process through the DB."""
    if "realtime_tickets" in metadata.tables:
        return metadata.tables["realtime_tickets"]
    return Table(
        "realtime_tickets", metadata,
        # Only a hash is stored: the database never holds a usable credential.
        Column("ticket_hash", String(64), primary_key=True),
        # The principal id as JSON: an int and a string id stay what they were.
        Column("user_id", String(255), nullable=False),
        # The session of the token that asked for it: a ticket dies with its token.
        Column("session", String(64), nullable=True),
        Column("expires_at", DateTime, nullable=False, index=True),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class Tickets:
    """Issue and consume single-use tickets (atomic across processes: DELETE ... RETURNING)."""

    def __init__(self, engine: Engine, table: Table, ttl: float) -> None:
        self.engine, self.table, self.ttl = engine, table, ttl

    def issue(self, user_id: Any, cap: int, session: str | None = None) -> str | None:
        """Return a new ticket for ``user_id`` in ``session``, valid once for ``ttl`` seconds;
        None if the user already holds ``cap`` unused ones (every process together)."""
        ticket = secrets.token_urlsafe(32)
        now = _now()
        table = self.table
        owner = json.dumps(user_id)
        with self.engine.begin() as conn:
            _lock_user_tickets(conn, owner)
            conn.execute(delete(table).where(table.c.user_id == owner, table.c.expires_at <= now))
            held = conn.execute(select(func.count()).select_from(table)
                                .where(table.c.user_id == owner)).scalar_one()
            if held >= cap:
                return None
            conn.execute(insert(table).values(
                ticket_hash=_hash(ticket), user_id=owner, session=session,
                expires_at=now + dt.timedelta(seconds=self.ttl)))
        return ticket

    def prune(self) -> int:
        """Delete tickets that expired unused; return how many."""
        with self.engine.begin() as conn:
            return conn.execute(delete(self.table).where(self.table.c.expires_at < _now())).rowcount

    def consume(self, ticket: str) -> tuple[Any, str | None] | None:
        """Return the ticket's user id and session and delete it; None if unknown, used or expired."""
        if not 10 <= len(ticket) <= 100:
            return None
        table = self.table
        with self.engine.begin() as conn:
            row = conn.execute(
                delete(table).where(table.c.ticket_hash == _hash(ticket), table.c.expires_at > _now())
                .returning(table.c.user_id, table.c.session)).first()
        return (json.loads(row[0]), row[1]) if row else None


#: First key of the PostgreSQL advisory locks that serialize one user's ticket issues.
_TICKET_LOCK_KEY = 0x17C7


def _lock_user_tickets(conn: Connection, owner: str) -> None:
    """Hold, until the transaction ends, the right to count and add ``user_id``'s tickets."""
    if conn.dialect.name == "sqlite":
        # No row locks: take the database's write lock before the count (pysqlite has not
        # begun a transaction yet; it only does so at the first write).
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
        return
    # The user's row lives outside the plugin: an advisory lock names the user instead (two
    # users sharing a 31-bit hash only wait for each other).
    key = int.from_bytes(hashlib.sha256(owner.encode()).digest()[:4], "big") & 0x7FFFFFFF
    conn.execute(select(func.pg_advisory_xact_lock(_TICKET_LOCK_KEY, key)))


def offered_subprotocols(request: Request) -> list[str]:
    """The subprotocols the client offered, in order."""
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


class VerifiedTokens:
    """Access tokens this process has verified, remembered until they expire.

    Checking a JWT (two base64 and JSON decodes, an HMAC, the claims) costs about a tenth of
    a millisecond, on every handshake; a client that reconnects, or opens a second tab,
    presents the same token again. A token is the same bytes or not at all, so its remembered
    claims are exactly as valid as when they were checked, until its ``exp``. Revocation is
    not remembered here: the claimed session is compared with the user's on every handshake.
    """

    def __init__(self, authenticate: Authenticator, maxsize: int = 10_000) -> None:
        self.authenticate = authenticate
        self._cache: TLRUCache[str, Credential] = TLRUCache(
            maxsize, ttu=lambda _token, value, _now: value.expires_at, timer=time.time)

    def claims(self, token: str) -> Credential:
        """The credential of a valid token, or a 401 ``RealtimeError`` (never remembered)."""
        known = self._cache.get(token)
        if known is not None:
            return known
        credential = self.authenticate(token)
        if credential.expires_at > time.time() + 1:  # one that expires this very second is not worth keeping
            self._cache[token] = credential
        return credential


def authenticate(request: Request, tickets: Tickets, load: PrincipalLoader, verified: VerifiedTokens,
                 allow_cookie: str | None = None, header_only: bool = False) -> Principal:
    """Return the connecting principal or raise a 401 ``RealtimeError`` before any upgrade.

    ``header_only``: a REST route (``/ticket``, ``/stats``) takes ``Authorization: Bearer`` only.
    """
    ticket = None if header_only else request.args.get("ticket")
    if ticket is not None:
        redeemed = tickets.consume(ticket)
        if redeemed is None:
            raise RealtimeError(401, "invalid_ticket", "the ticket is unknown, expired or already used")
        user_id, session = redeemed
    else:
        token = _bearer_token(request, allow_cookie, header_only)
        user_id, session, _ = verified.claims(token)
    principal = load(user_id)
    if principal is None:
        raise RealtimeError(401, "user_inactive",
                            "the user of this credential no longer exists or is disabled")
    if principal.session is not None and session != principal.session:
        raise RealtimeError(401, "token_revoked",
                            "this credential was revoked (the account's sessions ended)")
    return principal


def _bearer_token(request: Request, allow_cookie: str | None, header_only: bool = False) -> str:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":  # as on the REST routes: no bearer token at all
            raise RealtimeError(401, "missing_token", "Authorization must be 'Bearer <token>'")
        if not token.strip():
            raise RealtimeError(401, "invalid_token", "Authorization must be 'Bearer <token>'")
        return token.strip()
    if header_only:
        raise RealtimeError(401, "missing_token", "send Authorization: Bearer <token>")
    protocols = offered_subprotocols(request)
    bearer = [p for p in protocols if p.startswith(BEARER_PREFIX)]
    if bearer:
        if SUBPROTOCOL not in protocols:
            raise RealtimeError(401, "invalid_token",
                           f"a bearer.<token> subprotocol must come with {SUBPROTOCOL!r}")
        return bearer[0][len(BEARER_PREFIX):]
    if allow_cookie and request.cookies.get(allow_cookie):
        return request.cookies[allow_cookie]
    raise RealtimeError(401, "missing_token", "send Authorization: Bearer <token>, ?ticket=, "
                   f"or the subprotocols '{SUBPROTOCOL}, bearer.<token>'")


def check_origin(request: Request, allowed: list[str]) -> None:
    """Refuse a browser's cross-origin connection unless its origin is allowed (403)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return  # not a browser: nothing to forge on its behalf
    if "*" in allowed or origin in allowed:
        return
    # The server's own origin is scheme, host and port (RFC 6454): a page on another port or
    # over the other scheme is another site. Behind a proxy both are the public ones only when
    # the host trusts their X-Forwarded-Proto and -Host (ProxyFix, see create_app).
    if origin.lower() == f"{request.scheme}://{(request.host or '').lower()}":
        return
    raise RealtimeError(403, "origin_not_allowed", f"origin {origin[:100]!r} is not allowed")
