"""Control messages: what one process tells every other that is not an event.

An event goes to subscribers, and a durable one is logged, replayed and counted. A control
message acts on each process's own connections — close a user's streams, take connections off a
channel, forget the window of recent events — and is none of those things. It is its own type on
the broker wire and in the dispatcher, so it can never be stored, replayed or counted as an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Close every connection of ``user_id`` with ``code`` (a disabled or deleted user).
DISCONNECT = "disconnect"
#: Take ``user_id``'s connections (everyone's when None) off ``channel``, with ``Unsubscribed``.
REVOKE = "revoke"
#: Empty the window of recent events (logged events were purged): resumes read the log.
FORGET_RECENT = "forget_recent"


@dataclass(frozen=True, slots=True)
class Control:
    """One control message; which fields matter depends on ``action``."""

    action: str
    channel: str | None = None
    user_id: Any = None  # a principal id: any JSON-safe hashable value
    code: int | None = None

    def to_message(self) -> dict[str, Any]:
        """A plain dict for a broker to carry between processes."""
        return {"action": self.action, "channel": self.channel, "user_id": self.user_id,
                "code": self.code}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Control:
        """Rebuild a control message from ``to_message`` output; ``ValueError`` if malformed."""
        control = cls(action=message["action"], channel=message.get("channel"),
                      user_id=message.get("user_id"), code=message.get("code"))
        action = control.action
        if action == DISCONNECT:
            ok = control.user_id is not None and type(control.code) is int
        elif action == REVOKE:
            ok = isinstance(control.channel, str)
        else:
            ok = action == FORGET_RECENT
        if not ok:
            raise ValueError(f"malformed control message {message!r:.200}")
        return control
