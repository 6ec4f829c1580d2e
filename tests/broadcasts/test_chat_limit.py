"""One message reaches every viewer: a user's chat is limited to ``ITCOOK_LIVE_CHAT_PER_MINUTE``
messages a minute (429 past it), others chat on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.rest import Api


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "LIVE_CHAT_PER_MINUTE": 3}


def test_a_flood_of_chat_is_refused_and_others_chat_on(live_server) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    live = api.call("POST", "/live", anna, expect=201, json={"title": "Plov"}).json()
    api.call("POST", f"/live/{live['id']}/start", anna, expect=200)
    for i in range(3):
        api.call("POST", f"/live/{live['id']}/chat", boris, expect=201, json={"text": f"m{i}"})
    refused = api.call("POST", f"/live/{live['id']}/chat", boris, expect=429, json={"text": "more"})
    assert refused.json()["error"]["code"] == "rate_limited"
    api.call("POST", f"/live/{live['id']}/chat", anna, expect=201, json={"text": "calm down"})
