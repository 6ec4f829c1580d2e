"""The demo page's Nearby panel in Chromium: an area set by coordinates, an offer from another
user appearing live, claimed from the page, and shown taken live on a third user's page."""

from __future__ import annotations

import datetime as dt

from tests.support.browser import WAIT_MS, demo_login, demo_register


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


def test_my_location_fills_the_form_and_an_expiring_items_notification_offers_them(live_server,
                                                                                   new_page) -> None:
    from playwright.sync_api import expect

    from tests.support.rest import Api

    api = Api(live_server)
    boris = api.register("boris")
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    kefir = api.call("POST", "/fridge/items", boris, expect=201,
                     json={"name": "Kefir", "expires_on": tomorrow}).json()
    carol, offerer = new_page(), new_page()
    # Carol lets the page know where she is: the form is filled from the browser's location.
    carol.context.grant_permissions(["geolocation"], origin=live_server.url)
    carol.context.set_geolocation({"latitude": 55.751234, "longitude": 37.618765})
    demo_register(carol, live_server, "carol")
    carol.click("#nearby-locate")
    expect(carol.locator("#nearby-lat")).to_have_value("55.75123")
    expect(carol.locator("#nearby-lon")).to_have_value("37.61877")
    carol.click("#nearby-area-form button[type=submit]")
    expect(carol.locator("#nearby-area-state")).to_contain_text("Your area: around 55.75")

    demo_login(offerer, live_server, "boris")
    offerer.fill("#nearby-lat", "55.7558")
    offerer.fill("#nearby-lon", "37.6173")
    api.call("POST", "/fridge/notify-expiring", boris, expect=200)
    expect(offerer.locator("#nearby-offer-expiring")).to_contain_text("Offer this 1 item nearby")
    # The inbox's ExpiringItems notification links to offering exactly its items nearby.
    note = offerer.locator("#notifications li[data-type='ExpiringItems']")
    note.locator("button.offer-nearby").click()
    expect(offerer.locator("#nearby-offers li[data-mine='true']")).to_contain_text("Kefir")
    offer = carol.locator("#nearby-offers li", has_text="Kefir")
    expect(offer).to_contain_text("boris")
    expect(offer).to_contain_text("km")
    [mine] = api.call("GET", "/nearby/offers?lat=55.7558&lon=37.6173&radius_km=1", boris,
                      expect=200).json()["items"]
    assert [i["id"] for i in mine["items"]] == [kefir["id"]]


def test_an_offer_shows_expired_at_the_end_of_its_window(live_server, new_page) -> None:
    from playwright.sync_api import expect

    from tests.support.rest import Api

    api = Api(live_server)
    anna = api.register("anna")
    boris = new_page()
    demo_register(boris, live_server, "boris")
    _set_area(boris, "55.7512", "37.6184")
    expect(boris.locator("#nearby-area-state")).to_contain_text("Your area")
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=4)).isoformat()
    api.call("POST", "/nearby/offers", anna, expect=201,
             json={"title": "Warm bread", "lat": 55.7512, "lon": 37.6184, "pickup_until": until})
    offer = boris.locator("#nearby-offers li", has_text="Warm bread")
    expect(offer).to_have_attribute("data-status", "open")
    expect(offer).to_have_attribute("data-status", "expired", timeout=WAIT_MS)
    expect(offer.locator("button.claim")).to_have_count(0)
