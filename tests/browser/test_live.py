"""Live cooking in Chromium with a fake camera: the host goes live from the page and viewers
watch it, through a real Janus (token per user and room, none before the host publishes,
refused without one, in another room, to publish beside the host, or once revoked) or, with no
media server configured, peer to peer from the host to at most ITCOOK_LIVE_P2P_MAX_VIEWERS
viewers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    DECODED_FRAMES,
    wait_decoded_frames,
)
from tests.support.janus import JanusServer
from tests.support.rest import Api
from tests.support.servers import make_test_config
from tests.support.waiting import wait_for

RU = json.loads((Path(__file__).resolve().parents[2] / "static/i18n/ru.json").read_text("utf-8"))
#: Frames a viewer must decode: more than a first key frame, fewer than a second of video.
FRAMES = 10
#: Media waits: ICE and DTLS on a loaded machine take longer than a page wait.
MEDIA_MS = 30_000


@pytest.fixture
def app_config(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The app with the test's Janus when marked ``realtime_config(JANUS=True)``, else none."""
    marker = request.node.get_closest_marker("realtime_config")
    overrides = dict(marker.kwargs if marker else {})
    with_janus = overrides.pop("JANUS", False)
    config = make_test_config(tmp_path, REALTIME_HEARTBEAT_INTERVAL=5.0, REALTIME_IDLE_TIMEOUT=30.0,
                              **overrides)
    if with_janus:
        janus: JanusServer = request.getfixturevalue("janus_server")
        config.update(JANUS_URL=janus.url, JANUS_ADMIN_URL=janus.admin_url,
                      JANUS_ADMIN_SECRET=janus.admin_secret)
    return config


@pytest.fixture
def user_page(new_page: Callable[..., Any]) -> Callable[[], Any]:
    """A page in a context of its own (one user), in the session's Chromium with a fake camera."""
    return lambda: new_page(init_script=DECODED_FRAMES)


def _login(page: Any, url: str, username: str) -> None:
    page.goto(url)
    page.fill("#live-username", username)
    page.fill("#live-password", "secret123")
    page.click("#live-login button[type=submit]")
    page.wait_for_function("() => window.livePage.client && window.livePage.client.state === 'open'")


def _go_live(page: Any, server: Any, title: str, steps: list[str],
             before_start: Callable[[int], None] = lambda live_id: None,
             after_start: Callable[[], None] = lambda: None) -> int:
    """The host creates a broadcast from the lobby, sees the camera preview and goes live."""
    _login(page, server.url + "/static/live.html", "hana")
    page.fill("#live-new-title", title)
    page.fill("#live-new-steps", "\n".join(steps))
    page.click("#live-new button[type=submit]")
    page.wait_for_selector("#live-main:not([hidden]) #live-start:not([hidden])")
    live_id = int(page.evaluate("() => window.livePage.live.id"))
    page.wait_for_function("() => { const v = document.getElementById('live-video'); "
                           "return v.srcObject && v.srcObject.getVideoTracks().length === 1; }")  # preview
    before_start(live_id)
    page.click("#live-start")
    page.wait_for_selector("#live-status[data-status='live']")
    after_start()
    page.wait_for_function("() => window.livePage.state === 'playing'", timeout=MEDIA_MS)
    return live_id


#: In a page: a session of ``token`` tries to join room ``room`` (as a participant, then as a
#: subscriber to ``feed`` with the private id of its own room ``own``); Janus's answer to each.
CROSS_ROOM = """async ([url, token, room, feed, own]) => {
    const session = await ITCookJanus.connect(url, token);
    const attempt = async (body) => {
        try { return (await (await session.attach()).message(body)).data; } catch (e) { return e.code; } };
    const mine = await attempt({ request: "join", ptype: "publisher", room: own, token });
    const out = {
        join: await attempt({ request: "join", ptype: "publisher", room, token }),
        subscribe: await attempt({ request: "join", ptype: "subscriber", room, private_id: mine.private_id,
                                  streams: [{ feed }] }),
        own: typeof mine === "object" ? mine.videoroom : mine };
    await session.close();
    return out; }"""

#: In a viewer's page: publish a camera in the room it watches, beside the host; Janus's answer.
PUBLISH_BESIDE = """async () => {
    const media = window.livePage.media;
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const session = await ITCookJanus.connect(media.janus_url, media.token);
    try { await session.publish(media.room, stream, {}); return "published"; }
    catch (e) { return e.code; }
    finally { await session.close(); stream.getTracks().forEach((t) => t.stop()); } }"""


def _janus_answer(page: Any, url: str, token: str) -> Any:
    """What Janus answers the page's client opening a session with ``token``: "accepted" or its code."""
    return page.evaluate("""async ([url, token]) => {
        try { await ITCookJanus.connect(url, token); return "accepted"; } catch (e) { return e.code; } }""",
                         [url, token])


@pytest.mark.realtime_config(JANUS=True)
def test_a_host_publishes_through_janus_to_three_viewers_and_janus_refuses_others(
        live_server, user_page, janus_server) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    hana = api.register("hana")
    viewers = [api.register(name) for name in ("vera", "vlad", "vika")]
    for viewer in viewers:
        api.call("POST", f"/community/users/{hana['user']['id']}/follow", viewer, expect=201)
    # Vera waits on the list of broadcasts, where the notification of a followed cook shows up.
    vera = user_page()
    _login(vera, live_server.url + "/static/live.html", "vera")

    # Vlad opens the broadcast before it starts; the host's requests to Janus are held until
    # Vlad has been told to wait: a viewer gets no token before the host publishes.
    vlad = user_page()
    held: list[Any] = []
    released = []

    def hold(route: Any) -> None:
        route.continue_() if released else held.append(route)

    def before_start(live_id: int) -> None:
        _login(vlad, f"{live_server.url}/static/live.html?live={live_id}", "vlad")
        host.route(janus_server.url + "/**", hold)

    def after_start() -> None:
        vlad.wait_for_function("() => window.livePage.state === 'waiting'", timeout=MEDIA_MS)
        media = vlad.evaluate("() => window.livePage.media")
        assert (media["state"], media["reason"]) == ("waiting", "host_not_publishing")
        assert "token" not in media
        expect(vlad.locator("#live-media-note")).to_have_attribute("data-mode", "waiting")
        released.append(True)
        for route in held:
            route.continue_()

    host = user_page()
    live_id = _go_live(host, live_server, "Borscht live", ["Chop the beets", "Simmer", "Serve"],
                       before_start, after_start)
    assert host.evaluate("() => window.livePage.media.mode") == "janus"

    alert = vera.locator(f"#live-alerts li[data-live-id='{live_id}'] a")
    expect(alert).to_be_visible()
    alert.click()
    vika = user_page()
    _login(vika, f"{live_server.url}/static/live.html?live={live_id}", "vika")
    pages = [vera, vlad, vika]
    for page in pages:
        page.wait_for_function("() => window.livePage.state === 'playing'", timeout=MEDIA_MS)
        media = page.evaluate("() => window.livePage.media")
        assert (media["mode"], media["role"], media["janus_url"], media["state"]) == (
            "janus", "subscriber", janus_server.url, "ready")
        assert "publisher_id" not in media
        assert wait_decoded_frames(page, "window.livePage.pc", FRAMES, MEDIA_MS) >= FRAMES
    tokens = {page.evaluate("() => window.livePage.media.token") for page in pages}
    assert len(tokens) == 3  # a credential of each viewer alone

    # Only the host has the controls; the host does not react to their own broadcast.
    expect(vera.locator("#live-next")).to_be_hidden()
    expect(vera.locator("#live-end")).to_be_hidden()
    expect(host.locator("#live-next")).to_be_visible()
    expect(host.locator("#live-reactions")).to_be_hidden()
    # Steps, chat and reactions reach everyone while they watch.
    host.click("#live-next")
    for page in pages:
        expect(page.locator("#live-step")).to_have_text("Step 1: Chop the beets")
    vera.fill("#live-chat-text", "Looks great")
    vera.click("#live-chat-form button[type=submit]")
    expect(host.locator("#live-chat li .who")).to_have_text(["vera"])
    vlad.click("#live-reactions .react[data-emoji='🔥']")
    expect(vera.locator("#live-reactions .react[data-emoji='🔥'] .count")).to_have_text("1")
    expect(host.locator("#live-viewers")).not_to_have_attribute("data-count", "0")

    # Janus itself refuses a viewer without the app's credential, or with a made-up one.
    api.register("eve")
    eve = user_page()
    _login(eve, live_server.url + "/static/live.html", "eve")
    for token in ("", "forged-" + next(iter(tokens))):
        assert _janus_answer(eve, janus_server.url, token) == 403, token
    # A token of another broadcast's room is refused in this one: to join, and to subscribe.
    boss = api.register("boss")
    other = api.call("POST", "/live", boss, expect=201, json={"title": "Elsewhere"}).json()["id"]
    api.call("POST", f"/live/{other}/start", boss, expect=200)
    elsewhere = api.call("GET", f"/live/{other}/media", boss, expect=200).json()
    room, feed = host.evaluate("() => [window.livePage.media.room, window.livePage.media.publisher_id]")
    answers = eve.evaluate(CROSS_ROOM, [janus_server.url, elsewhere["token"], room, feed, elsewhere["room"]])
    assert answers == {"join": 433, "subscribe": 433, "own": "joined"}, answers
    # One publisher per room: a viewer's token does not let them publish beside the host.
    assert vika.evaluate(PUBLISH_BESIDE) == 432
    # A viewer disabled by an admin loses their token at once.
    root, walt = api.register_admin(), api.register("walt")
    wait_for(lambda: api.call("GET", f"/live/{live_id}/media", walt).json().get("state") == "ready",
             what="walt's token")  # the host publishes: granted (the app asks Janus once a second)
    walt_token = api.call("GET", f"/live/{live_id}/media", walt).json()["token"]
    assert _janus_answer(eve, janus_server.url, walt_token) == "accepted"
    api.call("POST", f"/admin/users/{walt['user']['id']}/disable", root, expect=200)
    assert _janus_answer(eve, janus_server.url, walt_token) == 403

    # Ending revokes every credential: the same token is refused from then on.
    host.click("#live-end")
    for page in pages:
        expect(page.locator("#live-media-note")).to_have_attribute("data-mode", "ended")
    assert _janus_answer(eve, janus_server.url, next(iter(tokens))) == 403


@pytest.mark.realtime_config(LIVE_P2P_MAX_VIEWERS=4)
def test_without_janus_the_host_sends_to_four_viewers_peer_to_peer_and_the_fifth_is_told(
        live_server, user_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    api.register("hana")
    names = ["vera", "vlad", "vika", "vova", "fifth"]
    for name in names:
        api.register(name)
    host = user_page()
    live_id = _go_live(host, live_server, "Pelmeni live", ["Knead", "Fill"])
    assert host.evaluate("() => window.livePage.media.mode") == "p2p"

    pages = []
    for name in names[:4]:
        page = user_page()
        _login(page, f"{live_server.url}/static/live.html?live={live_id}", name)
        page.wait_for_function("() => window.livePage.state === 'playing'", timeout=MEDIA_MS)
        media = page.evaluate("() => window.livePage.media")
        assert (media["mode"], media["role"], media["call_id"]) == ("p2p", "subscriber", f"live:{live_id}")
        pages.append(page)
    for page in pages:
        assert wait_decoded_frames(page, "window.livePage.pc", FRAMES, MEDIA_MS) >= FRAMES

    # The fifth viewer is told why there is no video, and gets no broken player.
    fifth = user_page()
    _login(fifth, f"{live_server.url}/static/live.html?live={live_id}", "fifth")
    note = fifth.locator("#live-media-note[data-mode='unavailable']")
    expect(note).to_contain_text("without a media server")
    expect(fifth.locator("#live-video")).to_be_hidden()
    media = fifth.evaluate("() => window.livePage.media")
    assert (media["mode"], media["reason"]) == ("unavailable", "p2p_full")
    assert fifth.evaluate("() => window.livePage.pc") is None
    # The note follows the page's language, and back.
    fifth.select_option("#lang-select", "ru")
    expect(note).to_have_text(RU["live.unavailable"])
    fifth.select_option("#lang-select", "en")
    expect(note).to_contain_text("without a media server")
    # Steps, chat and reactions still reach them.
    host.click("#live-next")
    expect(fifth.locator("#live-step")).to_have_text("Step 1: Knead")
    fifth.fill("#live-chat-text", "No video, still here")
    fifth.click("#live-chat-form button[type=submit]")
    expect(host.locator("#live-chat li .who")).to_have_text(["fifth"])
    expect(pages[0].locator("#live-chat li .who")).to_have_text(["fifth"])
    fifth.click("#live-reactions .react[data-emoji='👏']")
    expect(pages[0].locator("#live-reactions .react[data-emoji='👏'] .count")).to_have_text("1")
    # The four still receive video meanwhile.
    assert wait_decoded_frames(pages[3], "window.livePage.pc", FRAMES * 2, MEDIA_MS) >= FRAMES * 2
