"""Reactions are counted, never echoed: LiveReactions once a second with the counts since the
last one; bad React frames get an Error; the viewer count follows the users on live:<id>."""

from __future__ import annotations

from typing import Any

import pytest

from itcook.broadcasts.reactions import EMOJIS
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import Client, ws_connect


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _live(api: Api, host: dict[str, Any]) -> dict[str, Any]:
    live = api.call("POST", "/live", host, expect=201, json={"title": "Plov"}).json()
    api.call("POST", f"/live/{live['id']}/start", host, expect=200)
    return live


def _totals(client: Client, live_id: int, until: dict[str, int], timeout: float = 15.0) -> dict[str, int]:
    """Sum LiveReactions counts until they reach ``until`` (or pass it: then they are wrong)."""
    totals: dict[str, int] = {}
    while any(totals.get(k, 0) < n for k, n in until.items()):
        frame = client.recv_type("LiveReactions", timeout=timeout)
        assert "id" not in frame and frame["data"]["live_id"] == live_id  # not durable, this one's
        for emoji, n in frame["data"]["counts"].items():
            totals[emoji] = totals.get(emoji, 0) + n
    return totals


def test_reactions_are_published_in_sums_that_match_what_was_sent(live_server, api) -> None:
    anna = api.register("anna")
    live = _live(api, anna)
    channel = f"live:{live['id']}"
    viewers = [ws_connect(live_server, api.register(f"viewer{i}")["access_token"],
                          query=f"?channels={channel}") for i in range(3)]
    wait_for(lambda: len(live_server.state.hub.channels.get(channel, ())) == 3, what="subscriptions")
    sent = {"👍": 0, "🔥": 0}
    for i in range(30):
        emoji = "👍" if i % 3 else "🔥"
        viewers[i % 3].send({"type": "React", "live_id": live["id"], "emoji": emoji})
        sent[emoji] += 1
    assert _totals(viewers[0], live["id"], sent) == sent
    assert _totals(viewers[2], live["id"], sent) == sent
    # Nothing was echoed one by one, nothing counted twice: one more comes out as one more.
    viewers[1].send({"type": "React", "live_id": live["id"], "emoji": "🔥"})
    assert _totals(viewers[0], live["id"], {"🔥": 1}) == {"🔥": 1}
    for viewer in viewers:
        viewer.close()


BAD = [
    ({"type": "React", "emoji": "👍"}, "invalid_field"),
    ({"type": "React", "live_id": "1", "emoji": "👍"}, "invalid_field"),
    ({"type": "React", "live_id": True, "emoji": "👍"}, "invalid_field"),
    ({"type": "React", "live_id": 0, "emoji": "👍"}, "invalid_field"),
    ({"type": "React", "live_id": 2**31, "emoji": "👍"}, "invalid_field"),
    ({"type": "React", "live_id": "{id}", "emoji": "💩"}, "invalid_field"),
    ({"type": "React", "live_id": "{id}", "emoji": ["👍"]}, "invalid_field"),
    ({"type": "React", "live_id": "{id}"}, "invalid_field"),
    ({"type": "React", "live_id": "{other}", "emoji": "👍"}, "not_watching"),
    ({"type": "React", "live_id": "{scheduled}", "emoji": "👍"}, "not_live"),
]


def test_bad_react_frames_get_an_error_and_count_for_nothing(live_server, api) -> None:
    anna = api.register("anna")
    live, other = _live(api, anna), _live(api, anna)
    scheduled = api.call("POST", "/live", anna, expect=201, json={"title": "Later"}).json()
    ids = {"{id}": live["id"], "{other}": other["id"], "{scheduled}": scheduled["id"]}
    boris = api.register("boris")
    emoji = sorted(EMOJIS)[0]
    for first in range(0, len(BAD), 3):  # a few at a time: repeated garbage ends a connection
        viewer = ws_connect(live_server, boris["access_token"],
                            query=f"?channels=live:{live['id']},live:{scheduled['id']}")
        for frame, code in BAD[first:first + 3]:
            viewer.send({k: ids.get(v, v) if isinstance(v, str) else v for k, v in frame.items()})
            assert viewer.recv_type("Error")["data"]["code"] == code, frame
        viewer.send({"type": "React", "live_id": live["id"], "emoji": emoji})
        assert _totals(viewer, live["id"], {emoji: 1}) == {emoji: 1}  # the connection lives on
        viewer.close()


def test_the_viewer_count_follows_the_users_on_the_channel(live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    live = _live(api, anna)
    channel = f"live:{live['id']}"
    host = ws_connect(live_server, anna["access_token"], query=f"?channels={channel}")

    def count_becomes(n: int) -> None:
        frame = host.recv_until("LiveViewers", lambda f: f["data"]["count"] == n, timeout=10)
        assert frame["data"] == {"live_id": live["id"], "count": n} and "id" not in frame

    count_becomes(1)
    tabs = [ws_connect(live_server, boris["access_token"], query=f"?channels={channel}") for _ in range(2)]
    count_becomes(2)  # one user in two tabs is one viewer
    third = ws_connect(live_server, carol["access_token"])
    third.subscribe(channel)
    count_becomes(3)
    tabs[0].close()
    third.send({"type": "Unsubscribe", "channels": [channel]})
    count_becomes(2)
    tabs[1].close()
    count_becomes(1)
    third.close()
    host.close()
