"""A followed cook goes live: the offline follower's push and inbox entry open that broadcast,
not the list of broadcasts (the row's link is a template over the event's data)."""

from __future__ import annotations

from itcook.notifications.texts import link
from tests.support.push import PushService
from tests.support.waiting import wait_for


def test_a_live_started_push_and_inbox_entry_open_the_broadcast(client, auth, push_service: PushService,
                                                                sender) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = push_service.subscribe()
    assert client.post("/api/v1/push/subscriptions", json=sub, headers=boris["headers"]).status_code == 201
    assert client.post(f"/api/v1/community/users/{anna['user']['id']}/follow",
                       headers=boris["headers"]).status_code == 201
    created = client.post("/api/v1/live", json={"title": "Plov"}, headers=anna["headers"])
    live_id = created.get_json()["id"]
    assert client.post(f"/api/v1/live/{live_id}/start", headers=anna["headers"]).status_code == 200
    wait_for(lambda: any(r.payload["type"] == "LiveStarted" for r in push_service.to(sub)) and sender.idle(),
             what="the LiveStarted push")
    [received] = [r for r in push_service.to(sub) if r.payload["type"] == "LiveStarted"]
    assert received.payload["url"] == f"/static/live.html?live={live_id}"
    inbox = client.get("/api/v1/notifications", headers=boris["headers"]).get_json()["items"]
    [note] = [n for n in inbox if n["type"] == "LiveStarted"]
    assert note["link"] == f"/static/live.html?live={live_id}"
    # Without the datum it names (data of an older shape), the page itself: no "{live_id}" in a URL.
    assert link("LiveStarted", {}) == "/static/live.html"
