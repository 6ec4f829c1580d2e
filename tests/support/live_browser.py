"""Browser helpers for live broadcasts: the live page opened as a logged-in user."""

from __future__ import annotations

import json
from typing import Any

from tests.support.browser import WAIT_MS
from tests.support.calls_browser import SESSION_KEY


def open_live_page(page: Any, server: Any, user: dict[str, Any], query: str = "") -> Any:
    """static/live.html (+ ``query``) logged in as ``user`` (a register answer), its client open."""
    session = {"access": user["access_token"], "refresh": user.get("refresh_token"), "user": user["user"]}
    stored = json.dumps(json.dumps(session))
    page.add_init_script(f"sessionStorage.setItem({json.dumps(SESSION_KEY)}, {stored});")
    page.goto(f"{server.url}/static/live.html{query}")
    page.wait_for_function("window.livePage && livePage.client && livePage.client.state === 'open'",
                           timeout=WAIT_MS)
    return page
