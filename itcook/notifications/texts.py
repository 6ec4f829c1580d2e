"""What a notification says to a person: a title and a short body for each personal event type.

One place for the words, so the inbox (REST) and Web Push show the same text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TITLE_MAX, BODY_MAX = 100, 240


def _name(data: dict[str, Any], key: str) -> str:
    return str(data.get(key) or "Someone")


def _expiring(data: dict[str, Any]) -> tuple[str, str]:
    items = data.get("items") if isinstance(data.get("items"), list) else []
    names = ", ".join(str(item.get("name", "")) for item in items[:5] if isinstance(item, dict))
    more = f" and {len(items) - 5} more" if len(items) > 5 else ""
    return "Food is expiring", f"{len(items)} item(s) within {data.get('days', '?')} day(s): {names}{more}"


_TEXTS: dict[str, Callable[[dict[str, Any]], tuple[str, str]]] = {
    "PostLiked": lambda d: ("New like", f"{_name(d, 'user_name')} liked your post"),
    "NewComment": lambda d: ("New comment", f"{_name(d, 'author_name')}: {d.get('content', '')}"),
    "NewFollower": lambda d: ("New follower", f"{_name(d, 'follower_name')} follows you now"),
    "ExpiringItems": _expiring,
    "GoalAchieved": lambda d: ("Goal achieved", str(d.get("title", ""))),
    "RecipeGenerated": lambda d: ("Your recipe is ready", str(d.get("title", ""))),
    "RecipeFailed": lambda d: ("The recipe could not be written", str(d.get("error", ""))),
    "SystemNotification": lambda d: (str(d.get("title") or "Notice"), str(d.get("message", ""))),
    "NearbyOffer": lambda d: ("Food to share near you", f"{_name(d, 'by_name')} offers "
                              f"{d.get('title', 'food')}, {d.get('distance_km', '?')} km away"),
    "OfferClaimed": lambda d: ("Your offer was claimed", f"{_name(d, 'by_name')} will pick it up"),
    "GroupInvitation": lambda d: ("Group invitation", f"{_name(d, 'invited_by_name')} invites you "
                                  f"to {d.get('group_name', 'a group')}"),
}

#: The page a notification opens when clicked, where the page has a panel for it ("/" otherwise).
#: ExpiringItems goes to Nearby: that is where its items can be offered to people nearby.
_LINKS = {"ExpiringItems": "/#nearby", "NearbyOffer": "/#nearby", "OfferClaimed": "/#nearby"}

#: The personal event types a user can have pushed (``/push/preferences`` lists these).
PUSH_TYPES: tuple[str, ...] = tuple(_TEXTS)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(event_type: str, data: dict[str, Any]) -> tuple[str, str]:
    """``(title, body)`` of a notification, trimmed to a size a push message can carry."""
    render = _TEXTS.get(event_type)
    title, body = render(data) if render is not None else (event_type, "")
    return _clip(title, TITLE_MAX), _clip(body, BODY_MAX)


def link(event_type: str) -> str:
    """The app's page a notification of this type opens (Web Push ``url``)."""
    return _LINKS.get(event_type, "/")
