"""The call page and the live page in Chromium: axe-core finds nothing in any of their views (of
any impact: these pages are held to none), and they speak Russian in a Russian browser, with the
same language switch as the other pages."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.browser import AXE_ALL, axe_violations
from tests.support.calls import group_with
from tests.support.calls_browser import open_call_page
from tests.support.live_browser import open_live_page
from tests.support.rest import Api

CATALOGS = Path(__file__).resolve().parents[2] / "static/i18n"
EN = json.loads((CATALOGS / "en.json").read_text(encoding="utf-8"))
RU = json.loads((CATALOGS / "ru.json").read_text(encoding="utf-8"))
#: Chat messages that overflow the chat box.
CHAT_LINES = 30


def test_axe_finds_nothing_on_the_call_page(live_server, new_page) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    group_id = group_with(api, anna, boris)
    login = new_page()
    login.goto(f"{live_server.url}/static/calls.html?group={group_id}")
    login.wait_for_selector("#calls-login:not([hidden])")
    found = {"login": axe_violations(login, impacts=AXE_ALL)}

    api.call("POST", f"/groups/{group_id}/calls", boris, expect=201)  # someone is in it already
    page = open_call_page(new_page(), live_server, group_id, anna)
    page.wait_for_selector("#calls-live:not(:empty)")
    page.wait_for_selector("#calls-people li")
    found["before joining"] = axe_violations(page, impacts=AXE_ALL)
    page.click("#calls-join")
    page.wait_for_selector("#calls-state[data-state='joined']")
    page.wait_for_selector("#calls-tiles .tile video")
    page.wait_for_selector("#calls-people li >> nth=1")
    found["in the call"] = axe_violations(page, impacts=AXE_ALL)
    assert not {view: v for view, v in found.items() if v}, found


def test_axe_finds_nothing_on_the_live_pages(live_server, new_page) -> None:
    api = Api(live_server)
    hana, vera = api.register("hana"), api.register("vera")
    api.call("POST", f"/community/users/{hana['user']['id']}/follow", vera, expect=201)
    login = new_page()
    login.goto(live_server.url + "/static/live.html")
    login.wait_for_selector("#live-login:not([hidden])")
    found = {"login": axe_violations(login, impacts=AXE_ALL)}

    lobby = open_live_page(new_page(), live_server, vera)
    lobby.wait_for_selector("#live-lobby:not([hidden])")
    lobby.wait_for_selector("#live-list[data-empty]")
    found["empty list"] = axe_violations(lobby, impacts=AXE_ALL)
    live_id = api.call("POST", "/live", hana, expect=201,
                       json={"title": "Borscht", "steps": ["Chop", "Simmer"]}).json()["id"]
    lobby.reload()
    lobby.wait_for_selector(f"#live-list li[data-live-id='{live_id}']")
    found["list"] = axe_violations(lobby, impacts=AXE_ALL)

    host = open_live_page(new_page(), live_server, hana, f"?live={live_id}")
    host.wait_for_selector("#live-main:not([hidden]) #live-start:not([hidden])")
    found["host, before going live"] = axe_violations(host, impacts=AXE_ALL)
    host.click("#live-start")
    host.wait_for_selector("#live-status[data-status='live']")
    host.wait_for_selector("#live-next:not([hidden])")
    found["host, live"] = axe_violations(host, impacts=AXE_ALL)
    lobby.wait_for_selector(f"#live-alerts li[data-live-id='{live_id}'] a")  # a followed cook went live
    found["list with an alert"] = axe_violations(lobby, impacts=AXE_ALL)

    viewer = open_live_page(new_page(), live_server, vera, f"?live={live_id}")
    viewer.wait_for_selector("#live-status[data-status='live']")
    viewer.fill("#live-chat-text", "Looks great")
    viewer.click("#live-chat-form button[type=submit]")
    for n in range(CHAT_LINES):  # more than the chat box shows: it scrolls
        api.call("POST", f"/live/{live_id}/chat", hana, expect=201, json={"text": f"Stir {n}"})
    for page in (host, viewer):
        page.wait_for_function("(n) => document.querySelectorAll('#live-chat li').length > n", arg=CHAT_LINES)
    found["viewer"] = axe_violations(viewer, impacts=AXE_ALL)
    found["host, with chat"] = axe_violations(host, impacts=AXE_ALL)
    assert not {view: v for view, v in found.items() if v}, found


def _texts(page, selectors: dict[str, str]) -> dict[str, str]:
    return {key: page.text_content(selector).strip() for key, selector in selectors.items()}


def test_the_call_page_is_russian_in_a_russian_browser_and_switches(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    anna = api.register("anna")
    group_id = group_with(api, anna)
    page = open_call_page(new_page(locale="ru-RU"), live_server, group_id, anna)
    shown = {"calls.title": "h1", "calls.start": "#calls-join", "calls.people": "#calls-main h2",
             "calls.state.idle": "#calls-state", "calls.back": "header a",
             "lang.switch": "label:has(#lang-select) span"}
    expect(page.locator("#calls-join")).to_have_text(RU["calls.start"])
    assert page.get_attribute("html", "lang") == "ru"
    assert page.title() == RU["calls.page_title"]
    assert _texts(page, shown) == {key: RU[key] for key in shown}
    assert page.input_value("#lang-select") == "ru"
    page.click("#calls-join")
    expect(page.locator("#calls-state")).to_have_text(RU["calls.state.joined"])
    expect(page.locator("#calls-tiles .tile figcaption")).to_have_text(RU["calls.you"])
    shown = {"calls.title": "h1", "calls.state.joined": "#calls-state", "calls.leave": "#calls-leave",
             "calls.mute": "#calls-mute", "calls.camera_off": "#calls-camera"}
    assert _texts(page, shown) == {key: RU[key] for key in shown}
    found = axe_violations(page, impacts=AXE_ALL)
    assert not found, found

    page.select_option("#lang-select", "en")
    expect(page.locator("#calls-leave")).to_have_text(EN["calls.leave"])
    assert _texts(page, shown) == {key: EN[key] for key in shown}
    expect(page.locator("#calls-tiles .tile figcaption")).to_have_text(EN["calls.you"])
    assert page.get_attribute("html", "lang") == "en"
    page.click("#calls-leave")
    page.reload()  # the choice is remembered
    expect(page.locator("h1")).to_have_text(EN["calls.title"])
    expect(page.locator("#calls-join")).to_have_text(EN["calls.start"])
    assert page.input_value("#lang-select") == "en"


def test_the_live_page_is_russian_in_a_russian_browser_and_switches(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    hana = api.register("hana")
    live_id = api.call("POST", "/live", hana, expect=201,
                       json={"title": "Борщ", "steps": ["Нарезать"]}).json()["id"]
    lobby = open_live_page(new_page(locale="ru-RU"), live_server, hana)
    listed = lobby.locator(f"#live-list li[data-live-id='{live_id}']")
    expect(listed).to_contain_text(RU["live.status.scheduled"])
    shown = {"live.title": "h1", "live.now": "#live-lobby h2", "live.create": "#live-new button[type=submit]",
             "live.all": "header a[href='/static/live.html']", "lang.switch": "label:has(#lang-select) span"}
    assert _texts(lobby, shown) == {key: RU[key] for key in shown}
    assert lobby.get_attribute("#live-new-title", "placeholder") == RU["live.new_title"]
    assert lobby.title() == RU["live.page_title"]
    assert lobby.get_attribute("html", "lang") == "ru"
    # The page's requests name its language: the server's errors come back in it.
    missing = "() => ITCookPage.api('GET', '/live/999999').then(() => null, (e) => [e.code, e.message])"
    assert lobby.evaluate(missing) == ["live_not_found", "такой трансляции нет"]
    found = {"lobby": axe_violations(lobby, impacts=AXE_ALL)}
    lobby.select_option("#lang-select", "en")
    assert lobby.evaluate(missing) == ["live_not_found", "no such broadcast"]
    expect(listed).to_contain_text(EN["live.status.scheduled"])
    assert _texts(lobby, shown) == {key: EN[key] for key in shown}

    host = open_live_page(new_page(locale="ru-RU"), live_server, hana, f"?live={live_id}")
    host.wait_for_selector("#live-start:not([hidden])")
    shown = {"live.start": "#live-start", "live.status.scheduled": "#live-status",
             "live.chat": "#live-main h3", "live.send": "#live-chat-form button[type=submit]"}
    assert _texts(host, shown) == {key: RU[key] for key in shown}
    assert host.get_attribute("#live-reactions", "aria-label") == RU["live.reactions"]
    assert host.get_attribute("#live-video", "aria-label") == RU["live.video"]
    found["host"] = axe_violations(host, impacts=AXE_ALL)
    assert not {view: v for view, v in found.items() if v}, found
    host.select_option("#lang-select", "en")
    expect(host.locator("#live-start")).to_have_text(EN["live.start"])
    assert _texts(host, shown) == {key: EN[key] for key in shown}
    assert host.get_attribute("html", "lang") == "en"
