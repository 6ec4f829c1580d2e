"""How the video of a broadcast travels: through the media server (Janus) with a credential
per user, or, with none configured, peer to peer from the host to a few viewers.

Through Janus, the host's first media answer grants its token (on the room's list) and names
the participant id it publishes as (``publisher_id``); a viewer is granted one only once that
participant publishes (``Janus.publishing``): before, the answer says ``"state": "waiting"``
and holds no token, so nobody can take the room's one publisher place ahead of the host.
A user disabled or deleted loses every token (``revoke_user``).

Peer to peer, the host sends to at most ``LIVE_P2P_MAX_VIEWERS`` viewers, first come, kept in
the broadcast's row (locked while it changes): a slot whose viewer watched (joined
``live:<id>`` on some process) and no longer does is freed for the next one; one whose viewer
never joined, after ``GRACE`` seconds (a page asks for its media before it joins). The host
and a slot holder may exchange ``Signal`` frames with ``call_id`` ``"live:<id>"`` (``may_signal``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select

from itcook.broadcasts.janus import Janus, JanusError, janus_for, publisher_id
from itcook.calls.ice import ice_servers as calls_ice
from itcook.errors import ApiError
from itcook.extensions import db
from itcook.i18n import gettext
from itcook.models import LiveBroadcast, User
from itcook.realtime.dbapi import PooledStatements
from itcook.validation import is_row_id

log = logging.getLogger(__name__)

GRACE = 15.0
#: Seconds a viewer told to wait for the host's video should wait before asking again.
WAITING_RETRY = 2


def open_room(app: Flask, live: LiveBroadcast) -> None:
    """Starting: a room of its own on the media server, if there is one."""
    server = janus_for(app)
    if server is not None:
        live.janus_room, live.janus_secret = server.create_room(live.id)
        live.janus_tokens = {}
    live.p2p_viewers = []


def close_room(app: Flask, live: LiveBroadcast) -> None:
    """Ending: every credential revoked and the room destroyed; no peer-to-peer slot kept.

    A media server that fails here does not keep the broadcast from ending: its rooms are not
    permanent (gone when it restarts), and one it cannot reach serves nobody meanwhile."""
    server = janus_for(app)
    if server is not None and live.janus_room is not None:
        try:
            # Destroying the room empties its list: only the tokens themselves are left to remove.
            server.destroy_room(live.janus_room, live.janus_secret)
            for token in (live.janus_tokens or {}).values():
                server.revoke(token)
        except JanusError:
            log.warning("live %s: could not close Janus room %s", live.id, live.janus_room, exc_info=True)
    live.janus_room, live.janus_secret, live.janus_tokens, live.p2p_viewers = None, None, {}, []


def revoke_user(app: Flask, user_id: int, *, close_hosted: bool = False) -> None:
    """In the transaction that disables or deletes ``user_id``: their Janus tokens revoked (off
    each room's list, then removed) and forgotten; ``close_hosted``: the rooms of the broadcasts
    they host closed too (a deletion takes those rows with it). A Janus that fails is logged:
    the account's change must not wait on the media server."""
    server = janus_for(app)
    if server is None:
        return
    lives = db.session.scalars(select(LiveBroadcast).where(
        LiveBroadcast.status == "live", LiveBroadcast.janus_room.is_not(None)).with_for_update())
    for live in lives:
        if close_hosted and live.host_id == user_id:
            close_room(app, live)
            continue
        tokens = dict(live.janus_tokens or {})
        token = tokens.pop(str(user_id), None)
        if token is None:
            continue
        try:
            server.revoke(token, live.janus_room, live.janus_secret)
        except JanusError:
            log.warning("live %s: could not revoke user %s's token", live.id, user_id, exc_info=True)
        live.janus_tokens = tokens


def ice_servers(user: User) -> list[dict[str, Any]]:
    """The STUN/TURN servers the browser uses: the calls' (TURN with this user's credential)."""
    return calls_ice(current_app.config, user.id)["ice_servers"]  # type: ignore[no-any-return]


def answer(user: User, live_id: int) -> dict[str, Any]:
    """``GET /live/<id>/media``: how ``user`` sends (the host) or receives (a viewer) the video."""
    from itcook.broadcasts import services

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    server = janus_for(app)
    # With Janus, the row is locked only to store a new token: its calls are HTTP round trips,
    # which every other viewer's request (and the host's steps) would otherwise wait behind.
    live = services.get(live_id, lock=server is None)
    if live.status != "live":
        raise ApiError(409, "not_live", "the broadcast is %(status)s, not live", status=live.status)
    host = live.host_id == user.id
    role = "publisher" if host else "subscriber"
    if server is not None:
        return _janus_answer(server, live, user, host)
    p2p = {"mode": "p2p", "role": role, "host_id": live.host_id, "call_id": f"live:{live.id}",
           "ice_servers": ice_servers(user)}
    watching = app.extensions["broadcasts.pulse"].viewers.watching(live.id)
    slots = _prune(live, watching)
    if host:
        db.session.commit()
        return {**p2p, "viewers": [slot["user_id"] for slot in slots]}
    if all(slot["user_id"] != user.id for slot in slots):
        if len(slots) >= app.config["LIVE_P2P_MAX_VIEWERS"]:
            db.session.commit()
            return {"mode": "unavailable", "reason": "p2p_full",
                    "message": gettext("the host sends video to %(count)d viewers already and no "
                                       "media server is configured; steps, chat and reactions still "
                                       "work", count=len(slots))}
        slots.append({"user_id": user.id, "since": time.time(), "seen": user.id in watching})
    live.p2p_viewers = slots
    db.session.commit()
    return p2p


def _janus_answer(server: Janus, live: LiveBroadcast, user: User, host: bool) -> dict[str, Any]:
    """The host's token and publisher id; a viewer's token once the host publishes, else waiting."""
    base = {"mode": "janus", "role": "publisher" if host else "subscriber", "janus_url": server.public_url,
            "room": live.janus_room, "ice_servers": ice_servers(user)}
    room, secret = live.janus_room, live.janus_secret
    publisher = publisher_id(secret or "")
    token = (live.janus_tokens or {}).get(str(user.id))
    if token is None:
        if not host and not server.publishing(room, publisher):
            db.session.commit()
            return {**base, "state": "waiting", "reason": "host_not_publishing", "retry_after": WAITING_RETRY,
                    "message": gettext("waiting for the host's video: ask again once the host publishes")}
        token = _store_token(server, live.id, user.id, server.grant(room, secret, user.id), room, secret)
    db.session.commit()
    answer = {**base, "state": "ready", "token": token}
    return {**answer, "publisher_id": publisher} if host else answer


def _store_token(server: Janus, live_id: int, user_id: int, granted: str, room: int | None,
                 secret: str | None) -> str:
    """Keep ``granted`` as ``user_id``'s token of the broadcast, under its row lock, and return
    the user's token: one stored meanwhile (a second tab) wins; a broadcast that ended
    meanwhile takes none (409), and the unused token is revoked either way."""
    from itcook.broadcasts import services

    live = services.get(live_id, lock=True)
    stored = (live.janus_tokens or {}).get(str(user_id))
    if live.status == "live" and live.janus_room == room and stored is None:
        live.janus_tokens = {**(live.janus_tokens or {}), str(user_id): granted}
        return granted
    try:
        server.revoke(granted, room, secret)
    except JanusError:  # its room is gone with the broadcast: the token alone may be left
        log.warning("live %s: could not revoke an unused token", live_id, exc_info=True)
    if live.status != "live" or live.janus_room != room:
        db.session.commit()
        raise ApiError(409, "not_live", "the broadcast is %(status)s, not live", status=live.status)
    assert stored is not None
    return stored


def _prune(live: LiveBroadcast, watching: set[int]) -> list[dict[str, Any]]:
    """The slots still held: their viewer watches, or never did yet and asked within ``GRACE`` s."""
    now, kept = time.time(), []
    for slot in live.p2p_viewers or []:
        if slot["user_id"] in watching:
            kept.append({**slot, "seen": True})
        elif not slot.get("seen") and now - float(slot["since"]) < GRACE:
            kept.append(slot)
    return kept


_PEERS = "SELECT status, host_id, janus_room, p2p_viewers FROM live_broadcasts WHERE id = ?"


def may_signal(user_a: int, user_b: int, key: Any) -> bool:
    """Whether ``Signal`` frames of ``call_id`` ``"live:<key>"`` may pass between the two users:
    the host of a live broadcast and a viewer holding one of its peer-to-peer slots."""
    try:
        live_id = int(key)
    except (TypeError, ValueError):
        return False
    if not is_row_id(live_id):
        return False
    # Every Signal frame asks: on the pool's DB-API connection and only these columns, as the
    # calls' relay does (the ORM would load the whole row, steps and tokens included).
    with PooledStatements(db.engine) as sql:
        row = sql.run(_PEERS, (live_id,)).fetchone()
    if row is None or row[0] != "live" or row[2] is not None:
        return False
    host_id, stored = row[1], row[3]
    slots = {slot["user_id"] for slot in (json.loads(stored) if isinstance(stored, str) else stored) or []}
    return (user_a == host_id and user_b in slots) or (user_b == host_id and user_a in slots)
