"""The IT Cook web client at / used as a person would: every width, live counters, logout,
the forms with their server errors, Russian, and axe-core on every page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from tests.support.browser import (
    ARTIFACTS,
    WAIT_MS,
    axe_violations,
    demo_login,
    demo_register,
    open_harness,
    start_client,
    wait_open,
)
from tests.support.rest import Api
from tests.support.waiting import wait_for

LONG_WORD = "Пельмени" * 400  # 3,200 characters without a break
LONG_URL = "https://example.org/" + "recipe/" * 300 + "borscht?with=smetana"
LONG_POST = ("Borscht, step by step. " * 220)[:5000]

#: A proxy that refuses every WebSocket upgrade (the path answers 404); EventSource still works.
REFUSE_WEBSOCKET = """
const RealWebSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
  url = url.replace('/realtime/ws', '/realtime/refused');
  return protocols === undefined ? new RealWebSocket(url) : new RealWebSocket(url, protocols);
};
window.WebSocket.prototype = RealWebSocket.prototype;
Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = Array.from(document.querySelectorAll('body *')).filter((node) => {
    const box = node.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && getComputedStyle(node).position !== 'fixed';
  }).map((node) => node.id || node.className || node.tagName).slice(0, 5);
  return {scroll: document.documentElement.scrollWidth, width, wide};
}"""


def _post_item(page: Any, post_id: int) -> Any:
    return page.locator(f"#feed li[data-post-id='{post_id}']")


def _columns_top(page: Any) -> list[int]:
    return page.evaluate("() => Array.from(document.querySelectorAll('#app > section'))"
                         ".map((s) => Math.round(s.getBoundingClientRect().top))")


@pytest.mark.parametrize("width", [360, 390, 1280, 1920, 2560])
def test_no_horizontal_overflow_with_long_words_and_posts(live_server, new_page, width) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    page = new_page(viewport={"width": width, "height": 900})
    demo_register(page, live_server, "boris")
    for content in (LONG_WORD, LONG_URL, LONG_POST):
        api.call("POST", "/community/posts", anna, expect=201, json={"content": content})
    page.wait_for_selector(f"#feed li .content >> text={LONG_POST[:40]}")
    assert page.locator("#feed li").count() == 3
    # Long posts are folded in the feed and unfold on request.
    first = page.locator("#feed li").first
    assert first.locator(".content").bounding_box()["height"] < 300
    first.locator(".more").click()
    assert first.locator(".more").get_attribute("aria-expanded") == "true"
    assert first.locator(".content").bounding_box()["height"] > 300

    layout = page.evaluate(OVERFLOW)
    assert layout["scroll"] <= layout["width"], layout
    assert not layout["wide"], layout
    tops = _columns_top(page)
    if width >= 1280:
        assert len(set(tops)) == 1, f"three columns side by side at {width} px: {tops}"
    # Toasts stay small and never cover the header (Log out).
    toasts = page.locator(".toast")
    assert toasts.count() >= 1
    logout = page.locator("#logout").bounding_box()
    for i in range(toasts.count()):
        box = toasts.nth(i).bounding_box()
        assert box["height"] <= 0.34 * 900 and box["y"] > logout["y"] + logout["height"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-client-{width}.png"), full_page=True)


def test_a_third_user_sees_like_counts_change_live(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    post_id = api.call("POST", "/community/posts", anna, expect=201, json={"content": "Syrniki"}).json()["id"]
    boris, carol = new_page(), new_page()
    demo_register(boris, live_server, "boris")
    demo_register(carol, live_server, "carol")
    hub = live_server.state.hub
    wait_for(lambda: len(hub.channels.get(f"post:{post_id}", ())) == 2, what="both on the post's channel")
    assert _post_item(carol, post_id).locator(".likes").text_content() == "0 likes"

    like = _post_item(boris, post_id).locator(".like")
    assert like.get_attribute("aria-pressed") == "false"
    like.click()
    carol.wait_for_selector(f"#feed li[data-post-id='{post_id}'] .likes >> text=1 like")
    assert like.get_attribute("aria-pressed") == "true"
    assert like.text_content() == "💔 Unlike"
    like.click()  # undo
    carol.wait_for_selector(f"#feed li[data-post-id='{post_id}'] .likes >> text=0 likes")
    assert _post_item(boris, post_id).locator(".like").get_attribute("aria-pressed") == "false"

    follow = _post_item(boris, post_id).locator(".follow")
    follow.click()
    boris.wait_for_selector(f"#feed li[data-post-id='{post_id}'] .follow[aria-pressed='true']")
    assert "Following anna" in follow.text_content()
    boris.wait_for_selector(".toast >> text=You follow anna")
    follow.click()
    boris.wait_for_selector(f"#feed li[data-post-id='{post_id}'] .follow[aria-pressed='false']")


def test_the_feed_leaves_the_channels_of_posts_it_drops(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    first = api.call("POST", "/community/posts", anna, expect=201, json={"content": "oldest"}).json()["id"]
    page = new_page()
    demo_register(page, live_server, "boris")
    hub = live_server.state.hub
    wait_for(lambda: len(hub.channels.get(f"post:{first}", ())) == 1, what="the post's channel")
    for n in range(20):  # the feed shows 20: the oldest goes, and its channel with it
        api.call("POST", "/community/posts", anna, expect=201, json={"content": f"new {n}"})
    page.wait_for_selector("#feed li .content >> text=new 19")
    wait_for(lambda: not hub.channels.get(f"post:{first}"), what="the dropped post's channel left")
    assert page.locator("#feed li").count() == 20


def test_logout_then_login_as_someone_else_shows_nothing_of_the_first(live_server, new_page) -> None:
    api = Api(live_server)
    boris = api.register("boris")
    page = new_page()
    demo_register(page, live_server, "anna")
    anna_id = page.evaluate("JSON.parse(sessionStorage.getItem('itcook.demo.session')).user.id")
    api.call("POST", f"/community/users/{anna_id}/follow", boris, expect=201)
    page.wait_for_selector("#notifications li.unread")
    page.fill("#fridge-name", "Anna's secret kefir")
    page.click("#fridge-form button[type=submit]")
    page.wait_for_selector("#fridge-items li >> text=Anna's secret kefir")
    page.fill("#post-content", "half-typed by anna")
    assert page.text_content("#conn-last-id") != "—"

    page.click("#logout")
    page.wait_for_selector("#auth:not([hidden])")
    page.evaluate("window.sameDocument = true")  # no reload from here: the same tab, the same page
    page.fill("#auth-username", "boris")
    page.fill("#auth-password", "secret123")
    page.click("#login-button")
    page.wait_for_selector("#conn[data-state='open']")
    page.wait_for_selector("#notifications-empty:not([hidden])")
    page.wait_for_selector("#fridge-empty:not([hidden])")
    assert page.locator("#notifications li").count() == 0
    assert page.text_content("#unread-count") == "0"
    assert page.locator("#fridge-items li").count() == 0
    assert page.input_value("#post-content") == ""
    assert page.text_content("#conn-reconnects") == "0"
    assert page.text_content("#conn-last-id") == "—"  # boris has had no event yet
    assert page.locator("#events li[data-type='NewFollower']").count() == 0
    assert "anna" not in page.text_content("#whoami")
    assert page.evaluate("window.sameDocument") is True
    # Only boris's connection is open, on his channels.
    hub = live_server.state.hub
    wait_for(lambda: len(hub.connections) == 1, what="anna's connection closed")
    assert not [c for c in hub.connections if f"user:{anna_id}" in c.channels]


def test_forms_work_and_show_the_servers_errors(live_server, new_page) -> None:
    page = new_page()
    demo_register(page, live_server, "anna")

    # A 100 KB paste: counted, refused by the server with its reason, nothing cut.
    page.fill("#post-content", "щи" * 50_000)
    assert page.get_attribute("#post-counter", "data-over") == "true"
    page.click("#post-form button[type=submit]")
    page.wait_for_selector("#post-error >> text=5000")
    assert len(page.input_value("#post-content")) == 100_000
    assert page.locator("#feed li").count() == 0
    page.fill("#post-content", "Shchi for four")
    assert page.get_attribute("#post-counter", "data-over") == "false"
    page.click("#post-form button[type=submit]")
    page.wait_for_selector("#feed li .content >> text=Shchi for four")  # the toast comes with it, if any
    assert page.locator(".toast >> text=New post").count() == 0  # not for my own post
    assert page.text_content("#post-error") == ""

    # Fridge: add with an expiry date, it is listed and expiring soon; a bad one gets the error.
    page.click("#fridge-form button[type=submit]")  # no name
    page.wait_for_selector("#fridge-error:not(:empty)")
    page.fill("#fridge-name", "Milk")
    page.fill("#fridge-quantity", "1")
    page.fill("#fridge-unit", "l")
    page.click("#fridge-form button[type=submit]")
    page.wait_for_selector("#fridge-items li >> text=Milk · 1 l")
    page.wait_for_selector("#fridge-expiring li >> text=Milk")
    assert page.text_content("#fridge-error") == ""
    page.click("#fridge-notify")
    page.wait_for_selector("#notifications li[data-type='ExpiringItems'] time")
    when = page.text_content("#notifications li[data-type='ExpiringItems'] time")
    assert re.fullmatch(r"now|\d+ seconds? ago", when), when  # Intl.RelativeTimeFormat
    assert page.get_attribute("#notifications li[data-type='ExpiringItems'] a.go", "href") == "#nearby"
    page.click("#fridge-items li .delete")
    page.wait_for_selector("#fridge-empty:not([hidden])")

    # Goals: a bad target is refused; a goal gets progress until it is achieved.
    page.fill("#goal-title", "Cook 3 soups")
    page.fill("#goal-target", "0")
    page.click("#goal-form button[type=submit]")
    page.wait_for_selector("#goal-error:not(:empty)")
    page.fill("#goal-target", "3")
    page.click("#goal-form button[type=submit]")
    page.wait_for_selector("#goal-list li progress")
    page.fill("#goal-list li .goal-value", "3")
    page.click("#goal-list li form button")
    page.wait_for_selector("#goal-list li[data-achieved='true']")
    page.wait_for_selector(".toast >> text=Goal achieved")

    # Recipes: from chosen ingredients (none: the server's error), then the full recipe.
    page.check("input[name='recipe-source'][value='list']")
    page.click("#recipe-generate")
    page.wait_for_selector("#recipe-error:not(:empty)")
    page.fill("#recipe-ingredients", "tomato, egg, onion")
    page.click("#recipe-generate")
    page.wait_for_selector("#recipe-view:not([hidden]) #recipe-view-steps li")
    assert page.locator("#recipe-view-ingredients li").count() >= 3
    assert page.text_content("#recipe-error") == ""
    page.wait_for_selector("#recipe-list li a")
    link = page.locator("#notifications li[data-type='RecipeGenerated'] a.go")
    recipe_id = page.get_attribute("#recipe-view", "data-recipe-id")
    assert link.get_attribute("href") == f"#recipe-{recipe_id}"
    page.click("#recipe-view-title")  # the view is replaced by what the link opens
    page.evaluate("document.getElementById('recipe-view').hidden = true")
    link.click()
    page.wait_for_selector(f"#recipe-view[data-recipe-id='{recipe_id}']:not([hidden])")


def test_admin_notice_goes_to_the_admin_alone_by_default(live_server, new_page) -> None:
    api = Api(live_server)
    api.register_admin()
    admin, anna = new_page(), new_page()
    demo_login(admin, live_server, "root")
    demo_register(anna, live_server, "anna")
    admin.wait_for_selector("#admin:not([hidden])")
    assert anna.is_hidden("#admin")
    admin.fill("#admin-title", "Maintenance")
    admin.fill("#admin-message", "Back in 5 minutes")
    admin.click("#admin-form button[type=submit]")
    admin.wait_for_selector(".toast >> text=Back in 5 minutes")
    admin.select_option("#admin-to", "all")
    admin.fill("#admin-message", "To everyone")
    admin.click("#admin-form button[type=submit]")
    anna.wait_for_selector(".toast >> text=To everyone")
    assert anna.locator(".toast >> text=Back in 5 minutes").count() == 0


def test_the_page_is_russian_in_a_russian_browser(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    post_id = api.call("POST", "/community/posts", anna, expect=201, json={"content": "Блины"}).json()["id"]
    page = new_page(locale="ru-RU")
    page.goto(live_server.url + "/")
    page.wait_for_selector("#auth h2 >> text=Вход или регистрация")
    assert page.get_attribute("html", "lang") == "ru"
    demo_register(page, live_server, "boris")
    item = _post_item(page, post_id)
    assert item.locator(".likes").text_content() == "0 лайков"
    item.locator(".like").click()
    page.wait_for_selector(f"#feed li[data-post-id='{post_id}'] .likes >> text=1 лайк")
    assert page.text_content("#post-form button[type=submit]") == "Опубликовать"
    # The switch in the page goes back to English, and is remembered.
    page.select_option("#lang-select", "en")
    page.wait_for_selector("#post-form button[type=submit] >> text=Post")
    assert item.locator(".likes").text_content() == "1 like"
    page.reload()
    page.wait_for_selector("#post-form button[type=submit] >> text=Post")
    me = api.login("boris")
    assert me["user"]["language"] == "en"  # the choice was saved on the server too


def test_the_users_language_setting_wins_over_the_browsers(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    api.call("PATCH", "/auth/me", anna, expect=200, json={"language": "ru"})
    page = new_page(locale="en-US")
    page.goto(live_server.url + "/")
    page.wait_for_selector("#auth h2 >> text=Log in or register")
    demo_login(page, live_server, "anna")
    page.wait_for_selector("#post-form button[type=submit] >> text=Опубликовать")
    page.click("#post-form button[type=submit]")  # empty: the server's error, in Russian
    page.wait_for_selector("#post-error:not(:empty)")
    assert re.search("[а-я]", page.text_content("#post-error"))  # the server wrote it in Russian
    assert page.get_attribute("html", "lang") == "ru"


def test_reconnect_counter_ignores_channel_changes_after_a_reconnect(live_server, new_page) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    page = new_page(init_script="delete window.WebSocket;")
    open_harness(page, live_server)
    start_client(page, anna["access_token"])
    wait_open(page, "sse")
    page.context.set_offline(True)
    page.wait_for_function("client.state === 'reconnecting'")
    page.context.set_offline(False)
    wait_open(page, "sse")
    assert page.evaluate("client.reconnects") == 1
    hub = live_server.state.hub
    posts = [api.call("POST", "/community/posts", anna, expect=201, json={"content": n}).json()["id"]
             for n in ("Kasha", "Kisel")]
    for channel in (f"post:{post_id}" for post_id in posts):  # each a new EventSource, the old one dropped
        page.evaluate("(c) => client.subscribe([c])", channel)
        wait_for(lambda c=channel: any(c in conn.channels for conn in hub.connections), what=channel)
        wait_for(lambda: len(hub.connections) == 1, what="the old stream to close")
    assert page.evaluate("client.reconnects") == 1


def test_reconnecting_counts_down_and_the_sse_fallback_is_shown(live_server, new_page) -> None:
    page = new_page(init_script=REFUSE_WEBSOCKET)
    demo_register(page, live_server, "anna")
    assert page.text_content("#conn-transport") == "sse"
    page.wait_for_selector("#conn-fallback:not([hidden])")
    page.wait_for_selector(".toast >> text=Connected through EventSource")

    page.route("**/api/v1/realtime/ticket", lambda route: route.abort("connectionrefused"))
    for conn in list(live_server.state.hub.connections):
        conn.abort(None)
    # Attempts fail until the delay is seconds long; then the text counts down.
    page.wait_for_function("/in [2-9] s/.test(document.getElementById('conn-state').textContent)",
                           timeout=WAIT_MS * 2)
    first = page.text_content("#conn-state")
    seconds = int(first.split(" in ")[1].split()[0])
    page.wait_for_function("(t) => document.getElementById('conn-state').textContent === t",
                           arg=f"reconnecting in {seconds - 1} s")
    page.unroute("**/api/v1/realtime/ticket")
    page.wait_for_selector("#conn[data-state='open']", timeout=WAIT_MS * 4)
    assert page.text_content("#conn-reconnects") == "1"


def test_axe_finds_nothing_serious_on_any_page(live_server, new_page) -> None:
    api = Api(live_server)
    admin = api.register_admin()
    page = new_page()
    page.goto(live_server.url + "/")
    page.wait_for_selector("#auth h2")
    found = {"login": axe_violations(page)}
    demo_login(page, live_server, "root")
    page.wait_for_selector("#nearby:not([hidden])")
    page.fill("#post-content", "Okroshka")
    page.click("#post-form button[type=submit]")
    page.wait_for_selector("#feed li")
    page.fill("#fridge-name", "Kvass")
    page.click("#fridge-form button[type=submit]")
    page.wait_for_selector("#fridge-items li")
    page.click("#feed li .open")
    page.wait_for_selector("#post-panel:not([hidden])")
    found["index"] = axe_violations(page)
    found["nearby"] = axe_violations(page, "#nearby")

    status = new_page()
    status.goto(live_server.url + "/api/v1/realtime/status")
    found["status-login"] = axe_violations(status)
    status.fill("#username", "root")
    status.fill("#password", "secret123")
    status.click("#login button[type=submit]")
    status.wait_for_selector("#dashboard:not([hidden])")
    status.wait_for_selector("#chart-rates path")
    found["status"] = axe_violations(status)

    plans = new_page()
    plans.goto(live_server.url + "/static/plans.html")
    found["plans-login"] = axe_violations(plans)
    plans.fill("#plans-username", "root")
    plans.fill("#plans-password", "secret123")
    plans.click("#plans-login button[type=submit]")
    plans.wait_for_selector("#plans-picker:not([hidden])")
    found["plans"] = axe_violations(plans)
    monday = dt.date.today() - dt.timedelta(days=dt.date.today().weekday())
    plan = api.call("POST", "/plans", admin, expect=201,
                    json={"title": "Week", "week_start": monday.isoformat()}).json()
    plans.goto(live_server.url + f"/static/plans.html?plan={plan['id']}")
    plans.wait_for_selector("#plan-grid input.add")
    found["plan"] = axe_violations(plans)
    assert not {name: v for name, v in found.items() if v}, found


def test_keyboard_alone_logs_in_posts_and_likes_with_visible_focus(live_server, new_page) -> None:
    api = Api(live_server)
    api.register("anna")
    page = new_page()
    page.goto(live_server.url + "/")
    page.wait_for_selector("#auth h2")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"  # the first stop
    page.focus("#auth-username")
    page.keyboard.type("anna")
    page.keyboard.press("Tab")
    page.keyboard.type("secret123")
    page.keyboard.press("Enter")  # the form's first button: Log in
    page.wait_for_selector("#conn[data-state='open']")
    page.focus("#post-content")
    page.keyboard.type("Kulebyaka")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Post"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    page.wait_for_selector("#feed li .content >> text=Kulebyaka")
    page.focus("#feed li .like")
    page.keyboard.press("Enter")
    page.wait_for_selector("#feed li .like[aria-pressed='true']")
    page.wait_for_selector("#feed li .likes >> text=1 like")
