"""Live chat: LiveChat is durable (a viewer who reconnects or joins late catches up by
resuming), the host deletes messages (LiveChatDeleted) and mutes viewers (their chat 403)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


@pytest.fixture
def api(live_server) -> Api:
    return Api(live_server)


def _live(api: Api, host: dict[str, Any]) -> dict[str, Any]:
    live = api.call("POST", "/live", host, expect=201, json={"title": "Plov", "steps": ["Fry"]}).json()
    api.call("POST", f"/live/{live['id']}/start", host, expect=200)
    return live


def _say(api: Api, user: dict[str, Any], live_id: int, text: str) -> dict[str, Any]:
    return api.call("POST", f"/live/{live_id}/chat", user, expect=201, json={"text": text}).json()


def test_a_viewer_who_reconnects_gets_the_chat_it_missed_in_order(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    live = _live(api, anna)
    channel = f"live:{live['id']}"
    viewer = ws_connect(live_server, boris["access_token"], query=f"?channels={channel}")
    wait_for(lambda: live_server.state.hub.channels.get(channel), what="subscription")
    first = _say(api, anna, live["id"], "Welcome")
    frame = viewer.recv_type("LiveChat")
    assert frame["channel"] == channel and isinstance(frame["id"], int)
    assert frame["data"] == {"live_id": live["id"], "message_id": first["id"], "user_id": anna["user"]["id"],
                             "user_name": "anna", "text": "Welcome"}
    viewer.close()
    missed = [_say(api, anna, live["id"], f"m{i}")["id"] for i in range(3)]
    api.call("DELETE", f"/live/{live['id']}/chat/{missed[1]}", anna, expect=204)
    viewer = ws_connect(live_server, boris["access_token"],
                        query=f"?channels={channel}&last_event_id={frame['id']}")
    caught = [viewer.recv_type(t) for t in ("LiveChat",) * 3 + ("LiveChatDeleted",)]
    assert [f["data"].get("text") for f in caught[:3]] == ["m0", "m1", "m2"]
    assert [f["data"]["message_id"] for f in caught] == [*missed, missed[1]]
    assert caught[3]["data"] == {"live_id": live["id"], "message_id": missed[1]}
    ids = [f["id"] for f in caught]
    assert ids == sorted(ids) and ids[0] > frame["id"]
    viewer.close()
    # One who joins late resumes from an id before the broadcast started.
    late = ws_connect(live_server, api.register("carol")["access_token"],
                      query=f"?channels={channel}&last_event_id={frame['id'] - 1}")
    assert late.recv_type("LiveChat")["data"]["text"] == "Welcome"
    late.close()


def test_the_host_deletes_a_message_once(live_server, api) -> None:
    anna, boris = api.register("anna"), api.register("boris")
    live = _live(api, anna)
    viewer = ws_connect(live_server, boris["access_token"])
    viewer.subscribe(f"live:{live['id']}")
    rude = _say(api, boris, live["id"], "rude")
    assert viewer.recv_type("LiveChat")["data"]["message_id"] == rude["id"]
    api.call("DELETE", f"/live/{live['id']}/chat/{rude['id']}", anna, expect=204)
    assert viewer.recv_type("LiveChatDeleted")["data"] == {"live_id": live["id"], "message_id": rude["id"]}
    api.call("DELETE", f"/live/{live['id']}/chat/{rude['id']}", anna, expect=204)  # nothing new
    other = api.call("POST", "/live", anna, expect=201, json={"title": "Other"}).json()
    answer = api.call("DELETE", f"/live/{other['id']}/chat/{rude['id']}", anna, expect=404)
    assert answer.json()["error"]["code"] == "message_not_found"  # not a message of that broadcast
    _say(api, anna, live["id"], "marker")
    assert viewer.recv_type("LiveChat")["data"]["text"] == "marker"
    assert viewer.assert_silent() is None
    viewer.close()


def test_a_muted_viewer_cannot_chat_and_the_others_still_can(live_server, api) -> None:
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    live = _live(api, anna)
    _say(api, boris, live["id"], "first")
    answer = api.call("POST", f"/live/{live['id']}/mute", anna, expect=200,
                      json={"user_id": boris["user"]["id"]}).json()
    assert answer == {"live_id": live["id"], "user_id": boris["user"]["id"], "muted": True}
    api.call("POST", f"/live/{live['id']}/mute", anna, expect=200, json={"user_id": boris["user"]["id"]})
    refused = api.call("POST", f"/live/{live['id']}/chat", boris, expect=403, json={"text": "again"})
    assert refused.json()["error"]["code"] == "muted"
    _say(api, carol, live["id"], "still here")
    own = api.call("POST", f"/live/{live['id']}/mute", anna, expect=400, json={"user_id": anna["user"]["id"]})
    assert own.json()["error"]["code"] == "invalid_field"
    # The mute is of this broadcast only.
    other = _live(api, anna)
    _say(api, boris, other["id"], "hello")


def test_a_deleted_account_leaves_no_broadcast_or_chat_of_its_own_to_replay(live_server, api) -> None:
    root = api.register_admin()
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    api.call("POST", f"/community/users/{anna['user']['id']}/follow", carol, expect=201)
    watcher = ws_connect(live_server, carol["access_token"], query="?channels=community")
    other = _live(api, boris)
    since = watcher.recv_type("LiveStarted")["id"]  # the resume point: an event that stays
    watcher.close()
    hosted = _live(api, anna)
    _say(api, anna, hosted["id"], "anna hosts")
    _say(api, boris, hosted["id"], "boris in anna's")
    _say(api, anna, other["id"], "anna in boris's")
    _say(api, boris, other["id"], "boris hosts")
    assert [n["type"] for n in api.call("GET", "/notifications", carol).json()["items"]] == ["LiveStarted"]
    api.call("DELETE", f"/admin/users/{anna['user']['id']}", root, expect=204)
    client = ws_connect(live_server, carol["access_token"],
                        query=f"?channels=community,live:{other['id']}&last_event_id={since}")
    frames = []
    while (frame := client.recv())["type"] != "Recovery":
        frames.append(frame)
    client.close()
    assert frame["data"]["recovered"] is True
    assert [(f["type"], f["data"].get("text")) for f in frames] == [("LiveChat", "boris hosts")]
    assert api.call("GET", "/notifications", carol).json()["items"] == []
