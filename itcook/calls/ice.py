"""ICE servers for a call: STUN as configured, TURN with credentials by the TURN REST convention.

coturn's ``use-auth-secret`` accepts ``username = "<unix expiry>:<user id>"`` with
``password = base64(HMAC-SHA1(static-auth-secret, username))`` until that expiry: the app and
coturn share only the secret, and a credential handed to a browser dies by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any


def turn_credential(secret: str, user_id: int, ttl: int, now: float | None = None) -> tuple[str, str]:
    """``(username, credential)`` valid for ``ttl`` seconds from ``now``."""
    expiry = int(time.time() if now is None else now) + ttl
    username = f"{expiry}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(config: Mapping[str, Any], user_id: int, now: float | None = None) -> dict[str, Any]:
    """The ``{ice_servers, ttl}`` answer of ``GET /calls/ice-servers`` for ``user_id``."""
    servers: list[dict[str, Any]] = []
    if config["STUN_URLS"]:
        servers.append({"urls": list(config["STUN_URLS"])})
    ttl = int(config["TURN_TTL"])
    if config["TURN_URLS"] and config["TURN_SECRET"]:
        username, credential = turn_credential(config["TURN_SECRET"], user_id, ttl, now)
        servers.append({"urls": list(config["TURN_URLS"]), "username": username,
                        "credential": credential})
    return {"ice_servers": servers, "ttl": ttl}


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse to start with TURN URLs but no secret (every TURN allocation would fail), or a
    TTL or participant cap that makes no sense."""
    if config["TURN_URLS"] and not config["TURN_SECRET"]:
        raise RuntimeError("ITCOOK_TURN_URLS is set but ITCOOK_TURN_SECRET is not: TURN credentials "
                           "are made with coturn's static-auth-secret")
    if int(config["TURN_TTL"]) <= 0:
        raise RuntimeError("ITCOOK_TURN_TTL: must be a positive number of seconds")
    if int(config["CALL_MAX_PARTICIPANTS"]) < 2:
        raise RuntimeError("ITCOOK_CALL_MAX_PARTICIPANTS: a call needs room for at least 2")
