"""The menu plan page in two Chromium windows: live edits both ways, an offline window's edits kept
in its outbox (even across a closed tab) and sent when it is back, both converging."""

from __future__ import annotations

from typing import Any

from tests.support.rest import Api

MONDAY = "2026-12-07"


def _open(page: Any, server: Any, plan_id: int, username: str) -> None:
    page.goto(f"{server.url}/static/plans.html?plan={plan_id}")
    page.fill("#plans-username", username)
    page.fill("#plans-password", "secret123")
    page.click("#plans-login button[type=submit]")
    page.wait_for_selector("#plans-main:not([hidden])")
    page.wait_for_function("() => window.planSession && window.planSession.rt.state === 'open'")


def _add(page: Any, day: str, meal: str, title: str) -> None:
    box = page.locator(f"td[data-date='{day}'][data-meal='{meal}'] input.add")
    box.fill(title)
    box.press("Enter")


def _titles(page: Any) -> list[str]:
    return sorted(page.evaluate("() => window.planSession.plan.entries.map((e) => e.title)"))


def test_two_windows_edit_live_and_an_offline_one_catches_up(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    group = api.call("POST", "/groups", anna, expect=201, json={"name": "Family", "open": True}).json()
    api.call("POST", f"/groups/{group['id']}/join", boris, expect=201)
    plan = api.call("POST", "/plans", anna, expect=201,
                    json={"title": "Our week", "week_start": MONDAY, "group_id": group["id"]}).json()
    a, b = new_page(), new_page()
    _open(a, live_server, plan["id"], "anna")
    _open(b, live_server, plan["id"], "boris")

    _add(a, MONDAY, "dinner", "Borscht")
    cell = f"td[data-date='{MONDAY}'][data-meal='dinner'] .entry input.title"
    expect(b.locator(cell)).to_have_value("Borscht")
    # Presence: anna's cursor on the entry shows on boris's page.
    a.locator(cell).focus()
    expect(b.locator(f"td[data-date='{MONDAY}'][data-meal='dinner'] .entry .who")).to_have_text("anna")
    a.locator(cell).blur()

    # Boris goes offline and edits; his changes wait in the outbox, in localStorage.
    b.context.set_offline(True)
    b.evaluate("() => window.dispatchEvent(new Event('offline'))")
    _add(b, "2026-12-08", "lunch", "Pelmeni")
    b.wait_for_function("() => window.planSession.outbox.length === 1")
    # Anna, online, keeps editing meanwhile.
    _add(a, "2026-12-09", "breakfast", "Syrniki")
    expect(a.locator("#plan-pending")).to_have_attribute("data-count", "0")
    during = api.call("GET", f"/plans/{plan['id']}", anna, expect=200).json()
    assert sorted(e["title"] for e in during["entries"]) == ["Borscht", "Syrniki"]  # not sent yet
    assert b.evaluate("() => window.planSession.outbox.length") == 1
    # Boris closes the tab while offline: a new one in the same browser finds the outbox.
    b.close()
    b2 = b.context.new_page()
    b2.errors = []
    b2.context.set_offline(False)
    _open(b2, live_server, plan["id"], "boris")
    expect(b2.locator("#plan-pending")).to_have_attribute("data-count", "0")
    for page in (a, b2):
        page.wait_for_function("() => window.planSession.plan.version === 3")
        assert _titles(page) == ["Borscht", "Pelmeni", "Syrniki"]
    server = api.call("GET", f"/plans/{plan['id']}", anna, expect=200).json()
    assert sorted(e["title"] for e in server["entries"]) == ["Borscht", "Pelmeni", "Syrniki"]

    # A stale edit: anna renames without having seen boris's rename; she is told.
    borscht = next(e for e in server["entries"] if e["title"] == "Borscht")
    api.call("POST", f"/plans/{plan['id']}/ops", boris, expect=200, json={"op_id": "b-rename", "ops": [
        {"op": "update", "entry_id": borscht["id"], "base_version": borscht["version"],
         "title": "Green borscht"}]})
    a.evaluate("([id, v]) => window.planSession.update({id, version: v}, {title: 'Red borscht'})",
               [borscht["id"], borscht["version"]])
    expect(a.locator("#plan-notice")).to_contain_text("Green borscht")
    for page in (a, b2):
        page.wait_for_function("() => window.planSession.plan.version === 5")
        assert _titles(page) == ["Pelmeni", "Red borscht", "Syrniki"]


def test_a_user_finds_and_creates_plans_from_the_page(live_server, new_page) -> None:
    """Without a plan in the address: the user's plans are listed, and a new one for this week
    opens in the grid; the demo page links here."""
    from playwright.sync_api import expect

    api = Api(live_server)
    anna = api.register("anna")
    api.call("POST", "/plans", anna, expect=201, json={"title": "Last week", "week_start": "2026-11-30"})
    page = new_page()
    page.goto(f"{live_server.url}/")
    expect(page.locator("a[href='/static/plans.html']")).to_have_count(1)
    page.goto(f"{live_server.url}/static/plans.html")
    page.fill("#plans-username", "anna")
    page.fill("#plans-password", "secret123")
    page.click("#plans-login button[type=submit]")
    expect(page.locator("#plans-list a")).to_have_text(["Last week — week of 2026-11-30"])
    page.fill("#plans-new-title", "This week")
    page.click("#plans-new button[type=submit]")
    page.wait_for_selector("#plans-main:not([hidden])")
    expect(page.locator("#plan-title")).to_contain_text("This week")
    titles = sorted(p["title"] for p in api.call("GET", "/plans", anna, expect=200).json()["items"])
    assert titles == ["Last week", "This week"]
