"""The demo page's Nearby panel in Chromium: an area set by coordinates, an offer from another
user appearing live, claimed from the page, and shown taken live on a third user's page."""

from __future__ import annotations

from tests.support.browser import demo_register


def _set_area(page, lat: str, lon: str, radius: str = "5") -> None:
    page.fill("#nearby-lat", lat)
    page.fill("#nearby-lon", lon)
    page.fill("#nearby-radius", radius)
    page.click("#nearby-area-form button[type=submit]")


def test_an_offer_appears_live_is_claimed_and_shows_taken_live(live_server, new_page) -> None:
    from playwright.sync_api import expect

    anna, boris, carol = new_page(), new_page(), new_page()
    for page, name in ((anna, "anna"), (boris, "boris"), (carol, "carol")):
        demo_register(page, live_server, name)
        expect(page.locator("#nearby")).to_be_visible()
        expect(page.locator("#nearby-area-state")).to_contain_text("Not opted in")
    _set_area(boris, "55.7512", "37.6184")
    _set_area(carol, "55.7601", "37.6300", "3")
    for page in (boris, carol):
        expect(page.locator("#nearby-area-state")).to_contain_text("Your area: around 55.7")
    expect(boris.locator("#nearby-area-state")).to_contain_text("5 km")

    # Anna offers from a point ~1 km away: both panels show it at once, with distance and time.
    anna.fill("#nearby-lat", "55.7558")
    anna.fill("#nearby-lon", "37.6173")
    anna.fill("#nearby-title", "Half a borscht pot")
    anna.click("#nearby-offer-form button[type=submit]")
    expect(anna.locator("#nearby-offers li[data-mine='true']")).to_have_count(1)
    for page in (boris, carol):
        offer = page.locator("#nearby-offers li", has_text="Half a borscht pot")
        expect(offer).to_have_count(1)
        expect(offer).to_contain_text("anna")
        expect(offer).to_contain_text("km")
        expect(offer).to_contain_text("pick up until")

    boris.locator("#nearby-offers li", has_text="Half a borscht pot").locator("button.claim").click()
    expect(boris.locator("#nearby-offers li[data-status='claimed']")).to_contain_text("claimed by you")
    taken = carol.locator("#nearby-offers li", has_text="Half a borscht pot")
    expect(taken).to_have_attribute("data-status", "taken")
    expect(taken.locator("button.claim")).to_have_count(0)
    expect(anna.locator("#nearby-offers li[data-mine='true']")).to_contain_text("claimed by boris")
    expect(anna.locator("#nearby-status")).to_contain_text("boris claimed your offer")
    # The taken offer is not counted as a notification; the new offer was.
    expect(carol.locator("#unread-count")).to_have_text("1")
