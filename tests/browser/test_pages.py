"""The demo page at / and the status page, used the way a person would: forms, clicks, typing."""

from __future__ import annotations

from typing import Any

from tests.support.browser import ARTIFACTS, demo_register, open_harness, start_client, wait_open
from tests.support.rest import Api
from tests.support.waiting import wait_for

COUNT_TYPING = """
window.typingFrames = [];
const realSend = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  const frame = JSON.parse(data);
  if (frame.type.startsWith('Typing')) window.typingFrames.push(frame);
  return realSend.call(this, data);
};
"""


def _post_item(page: Any, post_id: int) -> Any:
    return page.locator(f"#feed li[data-post-id='{post_id}']")


def test_demo_page_live_feed_typing_and_comments_between_two_users(live_server, new_page) -> None:
    anna, boris = new_page(), new_page(init_script=COUNT_TYPING)
    demo_register(anna, live_server, "anna")
    demo_register(boris, live_server, "boris")
    assert boris.text_content("#conn-transport") == "websocket"

    anna.fill("#post-content", "Borscht tonight, who is in?")
    anna.click("#post-form button[type=submit]")
    # Boris's feed and toasts get it live, without a reload.
    boris.wait_for_selector("#feed li[data-post-id] .content >> text=Borscht tonight, who is in?")
    boris.wait_for_selector(".toast >> text=anna: Borscht tonight, who is in?")
    post_id = int(boris.get_attribute("#feed li[data-post-id]", "data-post-id"))

    _post_item(anna, post_id).locator(".open").click()
    _post_item(boris, post_id).locator(".open").click()
    hub = live_server.state.hub
    wait_for(lambda: len(hub.channels.get(f"post:{post_id}", ())) == 2, what="both on the post's channel")

    boris.type("#comment-input", "Count me in", delay=15)
    anna.wait_for_selector("#typing >> text=boris is typing…")
    assert [f["type"] for f in boris.evaluate("typingFrames")] == ["TypingStart"]  # throttled

    boris.press("#comment-input", "Enter")
    anna.wait_for_selector("#comments li >> text=Count me in")
    anna.wait_for_function("document.getElementById('typing').textContent === ''")
    anna.wait_for_selector(".toast >> text=boris commented")
    assert [f["type"] for f in boris.evaluate("typingFrames")] == ["TypingStart", "TypingStop"]

    _post_item(boris, post_id).locator(".like").click()
    anna.wait_for_selector(".toast >> text=boris liked your post (1 like)")
    assert _post_item(anna, post_id).locator(".likes").text_content() == "1 like"




def test_status_page_signs_in_an_admin_and_follows_the_numbers(live_server, new_page) -> None:
    # Locator waits, not wait_for_function: the page's CSP forbids eval, and stays on here.
    from playwright.sync_api import expect

    api = Api(live_server)
    api.register_admin()
    anna = api.register("anna")
    status = new_page()
    status.goto(live_server.url + "/api/v1/realtime/status")
    status.fill("#username", "root")
    status.fill("#password", "secret123")
    status.select_option("#interval", "1000")
    status.click("#login button[type=submit]")
    status.wait_for_selector("#dashboard:not([hidden])")
    assert status.text_content("#connected-total") == "0"
    assert status.text_content("#processes-reporting") == "1"

    # A client connects and an event is published: the page follows by itself.
    client = new_page()
    open_harness(client, live_server)
    start_client(client, anna["access_token"])
    wait_open(client, "websocket")
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "Blini"})
    expect(status.locator("#connected-total")).to_have_text("1")
    assert status.text_content("#connected-websocket") == "1"
    assert status.text_content("#connected-sse") == "0"
    status.wait_for_selector("#table-event-types tr[data-key='NewCommunityPost']")
    status.wait_for_selector("#table-channels tr[data-key='community']")
    expect(status.locator("#events-today")).to_have_text("1")
    assert status.locator("#table-days tr[data-key='NewCommunityPost'] td").last.text_content() == "1"
    expect(status.locator("#chart-rates path")).to_have_count(2)
    assert status.text_content("#broker") == "connected"
    # One client: the count axis has whole ticks only (0 and 1), never 0.25 … 0.75.
    ticks = status.locator("#chart-connections text[text-anchor='end']").all_text_contents()
    assert [t for t in ticks if t != "now"] == ["0", "1"]

    ARTIFACTS.mkdir(exist_ok=True)
    status.screenshot(path=str(ARTIFACTS / "status-page.png"), full_page=True)

    client.evaluate("client.disconnect()")
    expect(status.locator("#connected-total")).to_have_text("0")
    status.wait_for_selector("#table-disconnects tr[data-key='normal']")


def test_status_page_in_russian_for_a_russian_browser(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    api.register_admin()
    status = new_page(locale="ru-RU")
    status.goto(live_server.url + "/api/v1/realtime/status")
    expect(status.locator("#login h2")).to_have_text("Вход администратора")
    status.fill("#username", "root")
    status.fill("#password", "secret123")
    status.click("#login button[type=submit]")
    expect(status.locator("#live-pill")).to_have_text("в эфире")
    assert status.get_attribute("html", "lang") == "ru"
    status.select_option("#lang", "en")
    expect(status.locator("#live-pill")).to_have_text("live")
    expect(status.locator("#login h2")).to_have_text("Administrator sign-in")


def test_status_page_refuses_a_user_who_is_not_admin(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    status = new_page()
    # A token in the URL fragment is taken by the page and removed from the address bar.
    status.goto(live_server.url + "/api/v1/realtime/status#token=" + anna["access_token"])
    status.wait_for_selector("#login-error >> text=This account is not an administrator.")
    assert "token" not in status.url
    assert status.is_hidden("#dashboard")


def test_status_page_says_offline_while_its_data_cannot_be_fetched(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    api.register_admin()
    status = new_page()
    status.goto(live_server.url + "/api/v1/realtime/status")
    status.fill("#username", "root")
    status.fill("#password", "secret123")
    status.select_option("#interval", "1000")
    status.click("#login button[type=submit]")
    pill = status.locator("#live-pill")
    expect(pill).to_have_text("live")
    # The feed becomes unreachable (as when the server is down): the pill must not stay live.
    status.route("**/realtime/status/data", lambda route: route.abort("connectionrefused"))
    expect(pill).to_have_text("offline")
    expect(pill).to_have_class("pill offline")
    assert status.locator("#banner").is_visible()
    status.unroute("**/realtime/status/data")
    expect(pill).to_have_text("live")
    expect(pill).to_have_class("pill live")
    assert status.locator("#banner").is_hidden()
