"""The demo page's inbox and groups in Chromium: a live unread count across one user's pages,
group posts for members only, and a removed member whose client stops asking for the group."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import (
    demo_login,
    demo_register,
    open_harness,
    start_client,
    wait_frames,
    wait_open,
)
from tests.support.rest import Api
from tests.support.waiting import wait_for


def _connections(server: Any, user_id: int) -> list[Any]:
    return [conn for conn in server.state.hub.connections if conn.user_id == user_id]


def test_unread_count_is_live_on_every_page_of_the_user(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    laptop, phone = new_page(), new_page()
    demo_register(laptop, live_server, "anna")
    demo_login(phone, live_server, "anna")  # a second device: its own context and connection
    anna = api.login("anna")
    wait_for(lambda: len(_connections(live_server, anna["user"]["id"])) == 2, what="both pages live")
    boris, carol = api.register("boris"), api.register("carol")

    api.call("POST", f"/community/users/{anna['user']['id']}/follow", boris, expect=201)
    for page in (laptop, phone):
        expect(page.locator("#unread-count")).to_have_text("1")
    api.call("POST", f"/community/users/{anna['user']['id']}/follow", carol, expect=201)
    for page in (laptop, phone):
        expect(page.locator("#unread-count")).to_have_text("2")
    expect(laptop.locator("#notifications li.unread")).to_have_count(2)
    assert "carol follows you" in laptop.text_content("#notifications li:first-child")

    # Read on the phone: the laptop learns it from NotificationsRead, with no reload.
    phone.click("#mark-all-read")
    for page in (phone, laptop):
        expect(page.locator("#unread-count")).to_have_text("0")
    expect(laptop.locator("#notifications li.unread")).to_have_count(0)
    expect(laptop.locator("#notifications li.read")).to_have_count(2)
    laptop.wait_for_selector("#events li[data-type='NotificationsRead']", state="attached")
    assert api.call("GET", "/notifications/unread-count", anna, expect=200).json() == {"unread_count": 0}

    # And it goes on counting from there.
    post_id = api.call("POST", "/community/posts", anna, expect=201, json={"content": "Blini"}).json()["id"]
    api.call("POST", f"/community/posts/{post_id}/like", boris, expect=201)
    for page in (laptop, phone):
        expect(page.locator("#unread-count")).to_have_text("1")


def test_group_post_reaches_members_pages_and_not_others(live_server, new_page) -> None:
    from playwright.sync_api import expect

    anna, boris, carol = new_page(), new_page(), new_page()
    for page, name in ((anna, "anna"), (boris, "boris"), (carol, "carol")):
        demo_register(page, live_server, name)

    anna.fill("#group-name", "Soup club")
    anna.click("#group-create button[type=submit]")
    created = anna.locator("#group-list li[data-group-id]")
    expect(created).to_have_count(1)
    group_id = int(created.get_attribute("data-group-id"))
    boris.fill("#group-join-id", str(group_id))
    boris.click("#group-join button[type=submit]")
    expect(boris.locator(f"#group-list li[data-group-id='{group_id}']")).to_have_count(1)
    hub = live_server.state.hub
    wait_for(lambda: len(hub.channels.get(f"group:{group_id}", ())) == 2, what="both members on the channel")

    anna.fill("#group-post-content", "Borscht on Sunday")
    anna.press("#group-post-content", "Enter")
    boris.wait_for_selector("#group-posts li .content >> text=Borscht on Sunday")
    boris.wait_for_selector(".toast >> text=anna: Borscht on Sunday")
    expect(anna.locator("#group-posts li")).to_have_count(1)  # the answer and the frame: one post

    # Carol is not a member. A community post published after the group post reaches her; by
    # then the group post would have too (one connection delivers in publication order).
    anna.fill("#post-content", "after the group post")
    anna.click("#post-form button[type=submit]")
    carol.wait_for_selector("#feed li .content >> text=after the group post")
    assert carol.locator("#events li[data-type='NewGroupPost']").count() == 0
    assert carol.locator("#group-posts li").count() == 0
    assert boris.locator("#events li[data-type='NewGroupPost']").count() == 1


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_removed_member_drops_the_group_and_reconnects_without_refusal(live_server, new_page,
                                                                       transport: str) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    anna = api.register("anna")
    group_id = api.call("POST", "/groups", anna, expect=201,
                        json={"name": "Soup club", "open": True}).json()["id"]
    page = new_page()
    demo_register(page, live_server, "boris", query=f"?transport={transport}")
    assert page.text_content("#conn-transport") == transport
    boris_id = api.login("boris")["user"]["id"]
    page.fill("#group-join-id", str(group_id))
    page.click("#group-join button[type=submit]")
    channel = f"group:{group_id}"

    def on_group() -> bool:
        conns = _connections(live_server, boris_id)
        return len(conns) == 1 and channel in conns[0].channels

    wait_for(on_group, what="boris's one connection on the group channel")
    api.call("POST", f"/groups/{group_id}/posts", anna, expect=201, json={"content": "before"})
    page.wait_for_selector("#group-posts li .content >> text=before")

    api.call("DELETE", f"/groups/{group_id}/members/{boris_id}", anna, expect=200)
    page.wait_for_selector("#events li[data-type='Unsubscribed']", state="attached")
    page.wait_for_selector(".toast >> text=no longer a member of Soup club")
    expect(page.locator("#group-list li")).to_have_count(0)

    # Force a reconnect: the browser goes offline (the client lets its stream go) and back.
    page.context.set_offline(True)
    page.wait_for_selector("#conn[data-state='reconnecting']")
    wait_for(lambda: not _connections(live_server, boris_id), what="boris's stream to close")
    page.context.set_offline(False)
    page.wait_for_selector("#conn[data-state='open']")
    expect(page.locator("#conn-reconnects")).to_have_text("1")
    [conn] = _connections(live_server, boris_id)
    assert conn.transport == transport and channel not in conn.channels
    assert {"community", "system", f"user:{boris_id}"} <= conn.channels

    # Asking for the group again would have been 403 forbidden_channel, and again on every retry.
    stats = api.call("GET", "/realtime/stats", anna, expect=200).json()
    assert stats["handshake_failures_by_reason"].get("forbidden_channel", 0) == 0
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "after the reconnect"})
    page.wait_for_selector("#feed li .content >> text=after the reconnect")
    assert page.text_content("#conn-reconnects") == "1"


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_client_forgets_a_revoked_channel_in_later_connections(live_server, new_page, transport: str) -> None:
    """The client alone (no page logic): ``Unsubscribed`` with ``access_revoked`` takes the channel
    out of ``client.channels``, so the next handshake's ``?channels=`` no longer names it."""
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    group_id = api.call("POST", "/groups", anna, expect=201,
                        json={"name": "Soup club", "open": True}).json()["id"]
    api.call("POST", f"/groups/{group_id}/join", boris, expect=201)
    channel = f"group:{group_id}"
    page = new_page()
    open_harness(page, live_server)
    start_client(page, boris["access_token"], transports=[transport],
                 channels=["personal", "community", "system", channel])
    wait_open(page, transport)
    assert channel in page.evaluate("client.channels")

    api.call("POST", f"/groups/{group_id}/leave", boris, expect=200)
    [revoked] = wait_frames(page, "Unsubscribed")
    assert revoked["data"] == {"channels": [channel], "reason": "access_revoked"}
    assert page.evaluate("client.channels") == ["personal", "community", "system"]

    page.context.set_offline(True)
    page.wait_for_function("client.state === 'reconnecting'")
    wait_for(lambda: not _connections(live_server, boris["user"]["id"]), what="the stream to close")
    page.context.set_offline(False)
    page.wait_for_function("client.state === 'open' && client.reconnects === 1")
    [conn] = _connections(live_server, boris["user"]["id"])
    assert channel not in conn.channels
    stats = api.call("GET", "/realtime/stats", anna, expect=200).json()
    assert stats["handshake_failures_by_reason"].get("forbidden_channel", 0) == 0


def test_a_call_started_in_a_group_is_shown_to_its_other_members(live_server, new_page) -> None:
    from playwright.sync_api import expect

    anna_page, boris_page = new_page(), new_page()
    demo_register(anna_page, live_server, "anna")
    demo_register(boris_page, live_server, "boris")
    api = Api(live_server)
    anna, boris = api.login("anna"), api.login("boris")
    group = api.call("POST", "/groups", anna, expect=201, json={"name": "Soup club", "open": True})
    group_id = group.json()["id"]
    api.call("POST", f"/groups/{group_id}/join", boris, expect=201)
    for page in (anna_page, boris_page):
        page.reload()
        expect(page.locator(f"#group-list li[data-group-id='{group_id}']")).to_have_count(1)
    hub = live_server.state.hub
    wait_for(lambda: len(hub.channels.get(f"group:{group_id}", ())) == 2, what="both members on the channel")

    api.call("POST", f"/groups/{group_id}/calls", anna, expect=201)
    toast = boris_page.locator(".toast", has_text="Soup club")
    expect(toast).to_contain_text("A call started in Soup club")
    expect(toast.locator("a")).to_have_attribute("href", f"/static/calls.html?group={group_id}")
    # The one who started it is not told; the frame did reach that page too.
    anna_page.wait_for_selector("#events li[data-type='CallStarted']", state="attached")
    expect(anna_page.locator(".toast", has_text="A call started")).to_have_count(0)
