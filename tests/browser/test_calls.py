"""Cook together in Chromium with fake camera and microphone: the call page and the call API of
itcook-realtime.js against the real server, video decoded between every pair of participants,
leaving and rejoining, and media through a real coturn with ``iceTransportPolicy: "relay"``."""

from __future__ import annotations

from typing import Any

from tests.support.calls import group_with
from tests.support.calls_browser import (
    REMOTE_VIDEO_PLAYS_JS,
    call_harness,
    expired_turn_server,
    frames_flow,
    frames_grow,
    local_candidates,
    media_kinds,
    mesh_harness,
    open_call_page,
    selected_candidate_types,
    wait_peers,
)
from tests.support.rest import Api


def _group_of(api: Api, *usernames: str) -> tuple[int, list[dict[str, Any]]]:
    """Users ``usernames`` (the first the owner) in one open group: ``(group id, users)``."""
    users = [api.register(name) for name in usernames]
    return group_with(api, *users), users


def test_two_then_three_cooks_see_each_other_and_one_rejoins(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    group_id, (anna, boris, carol) = _group_of(api, "anna", "boris", "carol")
    ids = [user["user"]["id"] for user in (anna, boris, carol)]
    pages = {uid: open_call_page(new_page(), live_server, group_id, user)
             for uid, user in zip(ids, (anna, boris, carol), strict=True)}
    a, b, c = ids

    pages[a].click("#calls-join")
    pages[a].wait_for_selector("#calls-state[data-state='joined']")
    # Boris's page hears the call start live (CallStarted / CallParticipantJoined on group:<id>).
    expect(pages[b].locator("#calls-live")).not_to_be_empty()
    expect(pages[b].locator("#calls-people li")).to_have_count(1)
    pages[b].click("#calls-join")
    frames_flow({a: pages[a], b: pages[b]})

    # A network change (the browser's "online" event) restarts ICE on every peer of the page;
    # the media survives it.
    ufrag = ("(id) => callsPage.call.peers.get(id).pc.currentRemoteDescription.sdp"
             ".match(/a=ice-ufrag:(\\S+)/)[1]")
    before = pages[b].evaluate(ufrag, a)
    pages[a].evaluate("window.dispatchEvent(new Event('online'))")
    pages[a].wait_for_function("(id) => callsPage.call.peers.get(id).iceRestarts === 1", arg=b)
    pages[b].wait_for_function(f"([id, old]) => ({ufrag})(id) !== old", arg=[a, before])
    frames_flow({a: pages[a], b: pages[b]})

    pages[c].click("#calls-join")
    frames_flow(pages)  # every pair of the three, both ways
    for uid, page in pages.items():
        expect(page.locator("#calls-people li")).to_have_count(3)
        for other in ids:
            if other != uid:  # the remote tile plays the decoded video
                page.wait_for_function(REMOTE_VIDEO_PLAYS_JS, arg=other)

    pages[b].click("#calls-mute")
    pages[b].click("#calls-camera")
    expect(pages[b].locator("#calls-mute")).to_have_attribute("aria-pressed", "true")
    expect(pages[b].locator("#calls-camera")).to_have_attribute("aria-pressed", "true")
    assert pages[b].evaluate("[callsPage.call.audioEnabled, callsPage.call.videoEnabled]") == [False, False]
    pages[b].click("#calls-mute")
    assert pages[b].evaluate("callsPage.call.audioEnabled") is True

    # Carol's tab reloads and its leave never reaches the server (a crash, a lost network): she
    # is still in the call, joins again from the new page, and the others replace their peer to
    # her old page with one to the new.
    pages[c].evaluate("callsPage.call.leave = async () => {}")
    pages[c].reload()
    pages[c].wait_for_function("window.callsPage && callsPage.client.state === 'open' && callsPage.live.id")
    pages[c].click("#calls-join")
    frames_flow(pages)

    pages[c].click("#calls-leave")
    pages[c].wait_for_selector("#calls-state[data-state='left']")
    for uid in (a, b):  # CallParticipantLeft closes carol's peer at the others
        wait_peers(pages[uid], [other for other in (a, b) if other != uid])
        expect(pages[uid].locator(f"#calls-tiles .tile[data-user-id='{c}']")).to_have_count(0)
        expect(pages[uid].locator("#calls-people li")).to_have_count(2)
    assert pages[c].evaluate("callsPage.call.localStream.getTracks().every((t) => t.readyState === 'ended')")

    pages[c].click("#calls-join")  # the same call, joined again: new peers both ways
    frames_flow(pages)


def test_relay_only_media_flows_through_coturn(live_server, new_page, turn) -> None:
    """With TURN configured, ``/calls/<id>/join`` hands out credentials coturn accepts; with
    ``?relay=1`` the page allows relay candidates only, and the pair in use is relay on both ends."""
    live_server.app.config.update(turn.app_settings())  # read per request by the join route
    api = Api(live_server)
    group_id, (anna, boris) = _group_of(api, "anna", "boris")
    a, b = anna["user"]["id"], boris["user"]["id"]
    pages = {a: open_call_page(new_page(), live_server, group_id, anna, query="&relay=1"),
             b: open_call_page(new_page(), live_server, group_id, boris, query="&relay=1")}
    pages[a].click("#calls-join")
    pages[a].wait_for_selector("#calls-state[data-state='joined']")
    pages[b].click("#calls-join")
    frames_flow(pages)
    for uid, other in ((a, b), (b, a)):
        assert selected_candidate_types(pages[uid], other) == ["relay", "relay"]


def test_expired_turn_credential_gives_no_connection_when_relay_only(live_server, new_page, turn) -> None:
    """coturn itself refuses an expired credential (401): no relay candidate, so no connection."""
    api = Api(live_server)
    group_id, (anna, boris) = _group_of(api, "anna", "boris")
    call_id = api.call("POST", f"/groups/{group_id}/calls", anna, expect=201).json()["id"]
    servers = [[expired_turn_server(turn.urls, turn.secret, user["user"]["id"])] for user in (anna, boris)]
    pages = [call_harness(new_page(), live_server, user, call_id, ice_servers=ice)
             for user, ice in zip((anna, boris), servers, strict=True)]
    for page in pages:
        page.wait_for_function("log.candidateErrors.some((e) => e.errorCode === 401)")
        page.wait_for_function("call.peers.size === 1 && "
                               "Array.from(call.peers.values())[0].pc.iceGatheringState === 'complete'")
        # Gathering is over and produced nothing: no candidate pair can ever form.
        assert local_candidates(page) == 0
        assert page.evaluate("Array.from(call.peers.values())[0].pc.connectionState") != "connected"


def test_one_way_mesh_for_a_broadcast_sends_from_the_host_only(live_server, new_page) -> None:
    """``client.mesh(id, {direction})`` alone, as the peer-to-peer live broadcast uses it: the host
    sends only, viewers receive only, whichever side offers (the host to one viewer, the other
    viewer to the host)."""
    api = Api(live_server)
    group_id, (host, near, far) = _group_of(api, "anna", "boris", "carol")
    call_id = api.call("POST", f"/groups/{group_id}/calls", host, expect=201).json()["id"]
    for viewer in (near, far):  # Signal frames pass between participants of a call
        api.call("POST", f"/calls/{call_id}/join", viewer, expect=200)
    h, n, f = (user["user"]["id"] for user in (host, near, far))
    pages = {h: mesh_harness(new_page(), live_server, host, call_id, "sendonly"),
             n: mesh_harness(new_page(), live_server, near, call_id, "recvonly"),
             f: mesh_harness(new_page(), live_server, far, call_id, "recvonly")}
    pages[h].evaluate("(id) => { call.connect(id); }", n)  # the host offers to this viewer
    pages[f].evaluate("(id) => { call.connect(id); }", h)  # this viewer offers to the host
    for viewer in (n, f):
        frames_grow(pages[viewer], [h])
    assert media_kinds(pages[h]) == {"inbound": 0, "outbound": 2}
    for viewer in (n, f):
        assert media_kinds(pages[viewer]) == {"inbound": 1, "outbound": 0}
    directions = ("Array.from(call.peers.values())"
                  ".flatMap((p) => p.pc.getTransceivers().map((t) => t.currentDirection))")
    assert set(pages[h].evaluate(directions)) == {"sendonly"}
    for viewer in (n, f):
        assert set(pages[viewer].evaluate(directions)) == {"recvonly"}


def test_a_member_removed_from_the_group_is_dropped_from_the_call_at_once(live_server, new_page) -> None:
    from playwright.sync_api import expect

    api = Api(live_server)
    group_id, (anna, boris) = _group_of(api, "anna", "boris")
    a, b = anna["user"]["id"], boris["user"]["id"]
    pages = {a: open_call_page(new_page(), live_server, group_id, anna),
             b: open_call_page(new_page(), live_server, group_id, boris)}
    pages[a].click("#calls-join")
    pages[a].wait_for_selector("#calls-state[data-state='joined']")
    pages[b].click("#calls-join")
    frames_flow(pages)

    api.call("DELETE", f"/groups/{group_id}/members/{b}", anna, expect=200)
    # Boris's own CallParticipantLeft ends the call in his page; Anna's closes her peer to him.
    pages[b].wait_for_selector("#calls-state[data-state='ended']")
    expect(pages[b].locator("#calls-notice")).to_have_text("You are no longer in the call.")
    assert pages[b].evaluate("callsPage.call.peers.size") == 0
    wait_peers(pages[a], [])
    expect(pages[a].locator(f"#calls-tiles .tile[data-user-id='{b}']")).to_have_count(0)
