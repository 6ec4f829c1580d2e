"""What a notification says to a person: the text of its event's row (``itcook/live.py``).

One place for the words, so the inbox (REST) and Web Push show the same text.
"""

from __future__ import annotations

from typing import Any

from itcook import live

TITLE_MAX, BODY_MAX = 100, 240

#: The personal event types a user can have pushed (``/push/preferences`` lists these).
PUSH_TYPES: tuple[str, ...] = tuple(dict.fromkeys(row.type for row in live.EVENTS if row.inbox))


def is_notification(event_type: str) -> bool:
    """Whether a personal event of this type is kept in the inbox: its row has a text."""
    row = live.spec(event_type)
    return row is not None and row.inbox is not None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(event_type: str, data: dict[str, Any]) -> tuple[str, str]:
    """``(title, body)`` of a notification, trimmed to a size a push message can carry."""
    row = live.spec(event_type)
    title, body = row.inbox(data) if row is not None and row.inbox is not None else (event_type, "")
    return _clip(title, TITLE_MAX), _clip(body, BODY_MAX)


def link(event_type: str, data: dict[str, Any] | None = None) -> str:
    """The app's page a notification opens (inbox ``link``, Web Push ``url``): its row's
    ``link`` filled from the event's data; without the data it names, the page without the anchor
    or query (which hold the placeholders)."""
    row = live.spec(event_type)
    if row is None:
        return "/"
    try:
        return row.link.format_map(data or {})
    except (KeyError, IndexError, ValueError):
        return row.link.split("#", 1)[0].split("?", 1)[0] or "/"
