"""Browser helpers for calls: the call page opened as a logged-in user, the call API in a bare
harness, and what `RTCPeerConnection.getStats()` says about the media (frames decoded, which
candidate pair carries it). Every wait is bounded by the page's default timeout."""

from __future__ import annotations

import json
from typing import Any

from itcook.calls.ice import turn_credential
from tests.support.browser import WAIT_MS, open_harness

#: The demo page's session key; the call page reuses that login.
SESSION_KEY = "itcook.demo.session"

#: ``{user id: video frames decoded from that user}`` for the page's current call.
FRAMES_JS = """async () => {
  const call = window.callsPage ? callsPage.call : window.call;
  const out = {};
  if (!call) return out;
  for (const [id, peer] of call.peers) {
    const report = await peer.pc.getStats();
    let frames = 0;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
    out[id] = frames;
  }
  return out;
}"""

#: What each peer of the page's call is doing (for failure messages).
PEERS_JS = """() => {
  const call = window.callsPage ? callsPage.call : window.call;
  if (!call) return "no call";
  return Array.from(call.peers.values()).map((p) => ({ user: p.userId, polite: p.polite,
    signaling: p.pc.signalingState, ice: p.pc.iceConnectionState, state: p.pc.connectionState,
    restarts: p.iceRestarts, stream: !!p.remoteStream, frames: (framesSeen.frames || {})[p.userId] }));
}"""

#: Keeps ``window.framesSeen`` = ``{at, frames}`` current (``at``: when that reading started):
#: a predicate of ``wait_for_function`` must be synchronous (a Promise counts as true at once).
POLL_FRAMES_JS = """() => {
  if (!window.framesPoll) {
    window.framesSeen = { at: 0, frames: {} };
    const update = async () => {
      const at = performance.now();
      const frames = await (""" + FRAMES_JS + """)();
      if (at > framesSeen.at) window.framesSeen = { at, frames };
    };
    window.framesPoll = setInterval(() => { update().catch(() => {}); }, 100);
  }
  return performance.now();
}"""

#: True once the call page's tile of user ``id`` shows decoded video.
REMOTE_VIDEO_PLAYS_JS = """(id) => {
  const video = document.querySelector(`#calls-tiles .tile[data-user-id='${id}'] video`);
  return !!video && video.videoWidth > 0 && !video.paused;
}"""

HARNESS = """<!doctype html><meta charset="utf-8"><title>call harness</title>
<link rel="icon" href="data:,">
<script src="/static/itcook-realtime.js"></script>
<script>
window.log = {candidateErrors: [], states: [], errors: []};
window.joinWith = async (token, userId, callId, options) => {
  const client = window.client = new ITCookRealtime({ token });
  client.connect();
  await new Promise((resolve) => { const off = client.on("open", () => { off(); resolve(); }); });
  const call = window.call = await client.joinCall(callId, Object.assign({ userId }, options));
  call.on("candidate-error", (e) => log.candidateErrors.push({ errorCode: e.errorCode, url: e.url }));
  call.on("peer-state", (e) => log.states.push(e));
  call.on("error", (e) => log.errors.push(String(e.error)));
  return true;
};
window.meshWith = async (token, userId, callId, direction) => {
  const client = window.client = new ITCookRealtime({ token });
  client.connect();
  await new Promise((resolve) => { const off = client.on("open", () => { off(); resolve(); }); });
  const localStream = direction === "recvonly" ? null
    : await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  window.call = client.mesh(callId, { userId, direction, localStream, rtcConfig: {} });
  return true;
};
</script>"""


def open_call_page(page: Any, server: Any, group_id: int, user: dict[str, Any], query: str = "") -> Any:
    """The call page of ``group_id`` logged in as ``user`` (a register answer), live."""
    session = {"access": user["access_token"], "refresh": user.get("refresh_token"), "user": user["user"]}
    stored = json.dumps(json.dumps(session))
    page.add_init_script(f"sessionStorage.setItem({json.dumps(SESSION_KEY)}, {stored});")
    page.goto(f"{server.url}/static/calls.html?group={group_id}{query}")
    page.wait_for_function("window.callsPage && callsPage.client.state === 'open'", timeout=WAIT_MS)
    return page


def call_harness(page: Any, server: Any, user: dict[str, Any], call_id: int, **options: Any) -> Any:
    """A bare page that joins ``call_id`` through ``client.joinCall`` with ``options``
    (``ice_servers`` → ``iceServers``; relay only)."""
    open_harness(page, server, HARNESS)
    opts = {"iceTransportPolicy": "relay", "iceServers": options.pop("ice_servers", None), **options}
    page.evaluate("([t, u, c, o]) => joinWith(t, u, c, o)",
                  [user["access_token"], user["user"]["id"], call_id, opts])
    return page


def mesh_harness(page: Any, server: Any, user: dict[str, Any], call_id: int | str, direction: str) -> Any:
    """A bare page with ``client.mesh(call_id, {direction})`` as ``window.call`` (peers, no REST)."""
    open_harness(page, server, HARNESS)
    page.evaluate("([t, u, c, d]) => meshWith(t, u, c, d)",
                  [user["access_token"], user["user"]["id"], call_id, direction])
    return page


def media_kinds(page: Any) -> dict[str, int]:
    """Video RTP streams of the page's peers: ``{"inbound": n, "outbound": n}`` carrying frames."""
    return page.evaluate("""async () => {
      const out = { inbound: 0, outbound: 0 };
      for (const peer of call.peers.values()) {
        (await peer.pc.getStats()).forEach((s) => {
          if (s.kind !== "video") return;
          if (s.type === "inbound-rtp" && s.framesDecoded > 0) out.inbound++;
          if (s.type === "outbound-rtp" && s.framesEncoded > 0) out.outbound++;
        });
      }
      return out;
    }""")


def frames(page: Any) -> dict[int, int]:
    """Video frames decoded so far, by remote user id."""
    return {int(k): v for k, v in page.evaluate(FRAMES_JS).items()}


def frames_grow(page: Any, senders: list[int]) -> None:
    """Wait until the page decodes more video frames from each of ``senders`` than it had now."""
    since = page.evaluate(POLL_FRAMES_JS)
    before = frames(page)
    wanted = {str(uid): before.get(uid, 0) for uid in senders}
    try:
        page.wait_for_function("([since, w]) => framesSeen.at > since && "
                               "Object.keys(w).every((id) => (framesSeen.frames[id] || 0) > w[id])",
                               arg=[since, wanted], timeout=WAIT_MS * 2, polling=100)
    except Exception as exc:  # Playwright's TimeoutError: say what each peer was doing
        peers = page.evaluate(PEERS_JS)
        raise AssertionError(f"no frames from every one of {wanted}; peers: {peers}") from exc


def frames_flow(pages: dict[int, Any]) -> None:
    """Wait until on every page (by user id), frames from every other user's page are being
    decoded: the count grows past what it was at the start of this wait."""
    for uid, page in pages.items():
        frames_grow(page, [other for other in pages if other != uid])


def wait_peers(page: Any, user_ids: list[int]) -> None:
    """Wait until the page's call has peers to exactly ``user_ids``."""
    page.wait_for_function("(ids) => { const have = Array.from(callsPage.call.peers.keys()).sort();"
                           " return JSON.stringify(have) === JSON.stringify(ids.slice().sort()); }",
                           arg=user_ids, timeout=WAIT_MS)


def selected_candidate_types(page: Any, other: int) -> list[str]:
    """``[local, remote]`` candidate types of the pair that carries the media to ``other``."""
    return page.evaluate("""async (id) => {
      const call = window.callsPage ? callsPage.call : window.call;
      const report = await call.peers.get(id).pc.getStats();
      let pair = null;
      report.forEach((s) => {
        if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
      });
      if (!pair) return [];
      const type = (candidateId) => report.get(candidateId).candidateType;
      return [type(pair.localCandidateId), type(pair.remoteCandidateId)];
    }""", other)


def local_candidates(page: Any) -> int:
    """ICE candidates gathered by the harness's call, over all its peers."""
    return page.evaluate("""async () => {
      let count = 0;
      for (const peer of call.peers.values()) {
        (await peer.pc.getStats()).forEach((s) => { if (s.type === "local-candidate") count++; });
      }
      return count;
    }""")


def expired_turn_server(urls: list[str], secret: str, user_id: int) -> dict[str, Any]:
    """An ICE server entry for ``urls`` whose credential (the server's own kind) expired a minute ago."""
    username, credential = turn_credential(secret, user_id, ttl=-60)
    return {"urls": urls, "username": username, "credential": credential}
