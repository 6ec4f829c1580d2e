"""The channel registry: which ``<kind>:<key>`` channels exist and who may hold them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from itcook.realtime.auth import Principal
from itcook.realtime.events import ProtocolError
from itcook.realtime.hub import Hub

DEFAULT_CHANNELS = ("personal", "community", "system")
# A channel kind and its key: any safe string (``room:general``, ``chat-room:7``). ASCII only
# (``\d`` would take other scripts' digits) and fullmatch (``$`` allows a "\n").
_SCOPED = re.compile(r"([a-z][a-z0-9_-]{0,31}):([A-Za-z0-9._~-]{1,64})")
_INT_KEY = re.compile(r"[0-9]{1,19}")
_MAX_ID = 2**63 - 1  # the widest id column: a larger id names nothing

#: May this principal hold the channel ``<prefix>:<key>``? (principal id, parsed key).
Authorizer = Callable[[Any, Any], bool]
#: Parses a channel key: the value the authorizer gets, None if it names nothing (refused with
#: the kind's denied code), or ``ValueError`` if malformed (``unknown_channel``).
KeyParser = Callable[[str], Any]
T = TypeVar("T")


def int_key(raw: str) -> int | None:
    """A row id key (``post:7``): ASCII digits; wider than any id column names nothing."""
    if _INT_KEY.fullmatch(raw) is None:
        raise ValueError(raw)
    ident = int(raw)
    return ident if ident <= _MAX_ID else None


class ChannelRegistry:
    """The channel half of ``RealtimeState``: the kinds the app registered, and the checks."""

    app: Flask
    hub: Hub
    #: The registered kinds: prefix -> (authorizer, denied code, key parser).
    authorizers: dict[str, tuple[Authorizer, str, KeyParser]]

    def register_channel(self, prefix: str, authorize: Authorizer, denied_code: str,
                         key: KeyParser = int_key) -> None:
        """Allow ``<prefix>:<key>`` channels for users ``authorize(user_id, key(raw))`` accepts."""
        if _SCOPED.fullmatch(f"{prefix}:x") is None or prefix in ("personal", "user"):
            raise ValueError(f"channel kind {prefix!r}: lower-case letters, digits, - and _, "
                             "not personal or user")
        self.authorizers[prefix] = (authorize, denied_code, key)

    def resolve_channel(self, principal: Principal, name: str) -> str:
        """Map a client's channel name to the internal key, or raise ``ProtocolError``."""
        if name == "personal":
            return f"user:{principal.user_id}"
        if name in ("community", "system"):
            return name
        match = _SCOPED.fullmatch(name)
        if match is None:
            raise ProtocolError("unknown_channel", f"unknown channel {name[:64]!r}", channel=name[:64])
        prefix, raw = match.group(1), match.group(2)
        if prefix in ("personal", "user"):
            return self._own_channel(principal, name, raw)
        entry = self.authorizers.get(prefix)
        if entry is None:
            raise ProtocolError("unknown_channel", f"unknown channel {name!r}", channel=name)
        authorize, denied_code, parse = entry
        try:
            ident = parse(raw)
        except ValueError:
            raise ProtocolError("unknown_channel", f"unknown channel {name!r}", channel=name) from None
        if ident is None:  # a key that names nothing (wider than any id column, say)
            raise ProtocolError(denied_code, f"channel {name!r} is not available", channel=name)
        with self.app.app_context():
            allowed = authorize(principal.user_id, ident)
        if not allowed:
            raise ProtocolError(denied_code, f"channel {name!r} is not available", channel=name)
        return f"{prefix}:{ident}"

    @staticmethod
    def _own_channel(principal: Principal, name: str, raw: str) -> str:
        """``user:<id>`` / ``personal:<id>``: the principal's own channel, nobody else's."""
        own = principal.user_id
        if isinstance(own, int) and not isinstance(own, bool):
            try:
                mine = int_key(raw) == own  # ``user:007`` is user 7
            except ValueError:  # not an id at all
                raise ProtocolError("unknown_channel", f"unknown channel {name!r}", channel=name) from None
        else:
            mine = raw == str(own)
        if not mine:
            raise ProtocolError("forbidden_channel", "another user's personal channel", channel=name)
        return f"user:{own}"

    def allowed_channels(self, user_id: Any, keys: list[str]) -> list[str]:
        """``keys`` (internal channel keys) minus the scoped ones ``user_id`` may not hold now.

        Redone while revocations land during it (``settled``).
        """
        return self.settled(lambda: [key for key in keys if self._authorized(user_id, key)])

    def settled(self, authorize: Callable[[], T]) -> T:
        """``authorize()``, redone (up to 5 times in all) while revocations land during it.

        Authorizers ask the database (a yield): a revocation processed meanwhile would not find
        a connection that is not on the channel yet, and the answer may predate it.
        """
        epoch = self.hub.revocations
        result = authorize()
        for _ in range(4):
            if self.hub.revocations == epoch:
                break
            epoch = self.hub.revocations
            result = authorize()
        return result

    def _authorized(self, user_id: Any, key: str) -> bool:
        prefix, _, raw = key.partition(":")
        entry = self.authorizers.get(prefix)
        if entry is None:
            return True  # personal, community, system: nothing to revoke
        try:
            ident = entry[2](raw)
        except ValueError:
            return False
        with self.app.app_context():
            return ident is not None and bool(entry[0](user_id, ident))

    def _reauthorize(self, channels: set[str]) -> None:
        """Drop (``access_revoked``) the live subscribers of ``channels`` no longer allowed on them."""
        for channel in channels:
            if channel.partition(":")[0] not in self.authorizers:
                continue  # personal, community, system: nothing to revoke
            members = [c for c in self.hub.channels.get(channel, ()) if not c.closed]
            allowed = {u: self._authorized(u, channel) for u in {c.user_id for c in members}}
            for conn in members:
                if not allowed[conn.user_id] and channel in conn.channels:
                    self.hub.drop(conn, channel)
