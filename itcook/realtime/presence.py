"""Who is typing on which post: throttled announcements and states that expire by themselves."""

from __future__ import annotations

import time
from collections.abc import Callable

from itcook.realtime.events import Event

Publish = Callable[[Event], None]


class TypingTracker:
    """Turns TypingStart/TypingStop into UserTyping events on ``post:<id>``."""

    def __init__(self, publish: Publish, throttle: float, timeout: float) -> None:
        self._publish = publish
        self.throttle = throttle
        self.timeout = timeout
        # (post_id, user_id) -> [expires_at, last_announced_at, user_name]
        self._states: dict[tuple[int, int], list[float | str]] = {}

    def _announce(self, post_id: int, user_id: int, user_name: str, typing: bool) -> None:
        self._publish(Event(type="UserTyping", channel=f"post:{post_id}", exclude_user=user_id, durable=False,
                            data={"post_id": post_id, "user_id": user_id, "user_name": user_name,
                                  "typing": typing}))

    def start(self, post_id: int, user_id: int, user_name: str) -> bool:
        """Record typing; announce unless announced within the throttle window. True if announced."""
        now = time.monotonic()
        state = self._states.get((post_id, user_id))
        if state is not None and now - float(state[1]) < self.throttle:
            state[0] = now + self.timeout  # still typing: keep the state alive, stay quiet
            return False
        self._states[(post_id, user_id)] = [now + self.timeout, now, user_name]
        self._announce(post_id, user_id, user_name, True)
        return True

    def stop(self, post_id: int, user_id: int) -> bool:
        """End a typing state; announce ``typing: false`` if there was one."""
        state = self._states.pop((post_id, user_id), None)
        if state is None:
            return False
        self._announce(post_id, user_id, str(state[2]), False)
        return True

    def expire(self, now: float | None = None) -> int:
        """End every state past its timeout (the client never sent TypingStop)."""
        now = time.monotonic() if now is None else now
        expired = [key for key, state in self._states.items() if float(state[0]) <= now]
        for post_id, user_id in expired:
            self.stop(post_id, user_id)
        return len(expired)

    def drop_user(self, user_id: int) -> None:
        """End every typing state of a user who left."""
        for post_id, uid in [key for key in self._states if key[1] == user_id]:
            self.stop(post_id, uid)

    def __len__(self) -> int:
        return len(self._states)
