"""Calls in Chromium: call setup time, from ``joinCall()`` to the first decoded remote frame.

Two pages (one browser, fake camera) of two members of one group. Each round the first starts a
call and the second joins it; the time is taken in the joiner's page from the moment it calls
``client.joinCall()`` (REST join, offer and answer through the real-time plugin, ICE, DTLS) to
the first frame of the other's video painted in a ``<video>`` (``requestVideoFrameCallback``).
Both leave, and the next round starts a new call. With coturn installed, the same again with
``iceTransportPolicy: "relay"`` on both pages: the media through a TURN server on this machine.

The baseline, in the same run and alternating with it round by round: two RTCPeerConnections in
one page, signalled by direct calls (no server, no network between them), from creating them to
the first painted frame. Their ratio is what the server round trips add to what WebRTC costs
anyway on this machine. Run alone: ``python -m bench.calls_browser``; in the suite:
``python -m bench.run --only calls_browser``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.harness import BenchError, median, percentile, register

ROUNDS = 12
WAIT_MS = 20_000
CHROMIUM = os.environ.get("ITCOOK_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]

#: Shared by both measurements: resolve with the ms from `t0` to the first frame `stream` paints.
FIRST_FRAME_JS = """
window.firstFrame = (stream, t0) => new Promise((resolve) => {
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  document.body.append(video);
  video.requestVideoFrameCallback(() => { resolve(performance.now() - t0); video.remove(); });
  video.play().catch(() => {});
});
window.media = navigator.mediaDevices.getUserMedia({ audio: true, video: true });
"""

#: The baseline: two peer connections in this page, signalled directly.
BASELINE_JS = """async () => {
  const local = await media;
  const t0 = performance.now();
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => { if (e.candidate) b.addIceCandidate(e.candidate); };
  b.onicecandidate = (e) => { if (e.candidate) a.addIceCandidate(e.candidate); };
  const painted = new Promise((resolve) => {
    b.ontrack = (e) => { if (e.track.kind === "video") resolve(firstFrame(e.streams[0], t0)); };
  });
  local.getTracks().forEach((t) => a.addTrack(t, local));
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  const ms = await painted;
  a.close(); b.close();
  return ms;
}"""

CLIENT_JS = """async ([token, userId]) => {
  window.userId = userId;
  const client = window.client = new ITCookRealtime({ token });
  client.connect();
  await new Promise((resolve) => { const off = client.on("open", () => { off(); resolve(); }); });
  return true;
}"""

START_JS = """async ([groupId, policy]) => {
  const localStream = await media;
  window.call = await client.startCall(groupId, { userId, localStream, iceTransportPolicy: policy });
  return call.id;
}"""

JOIN_JS = """async ([callId, policy]) => {
  const localStream = await media;
  const t0 = performance.now();
  const joining = client.joinCall(callId, { userId, localStream, iceTransportPolicy: policy });
  const painted = new Promise((resolve) => {
    joining.then((call) => {
      window.call = call;
      const seen = (e) => { if (e.stream.getVideoTracks().length) resolve(firstFrame(e.stream, t0)); };
      call.remoteStreams.forEach((stream, id) => seen({ userId: id, stream }));
      call.on("stream", seen);
    });
  });
  return painted;
}"""


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50": round(median(ordered), 1), "p90": round(percentile(ordered, 90), 1),
            "min": round(ordered[0], 1), "max": round(ordered[-1], 1)}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}"
    return None


def measure(base_url: str, first: dict[str, Any], second: dict[str, Any], group_id: int,
            rounds: int = ROUNDS, relay: bool = False) -> dict[str, Any]:
    """Alternate ``rounds`` baseline and IT Cook setups (and relay-only ones); their times (ms)
    and the paired ratios."""
    from playwright.sync_api import sync_playwright

    ours: list[float] = []
    relayed: list[float] = []
    baseline: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=30_000)
        try:
            pages = []
            for user in (first, second):
                context = browser.new_context()
                context.set_default_timeout(WAIT_MS)
                page = context.new_page()
                page.goto(base_url + "/static/calls.html")  # the page's scripts; it has no group here
                page.evaluate(FIRST_FRAME_JS)
                page.evaluate(CLIENT_JS, [user["access_token"], user["user"]["id"]])
                pages.append(page)
            starter, joiner = pages

            def setup(policy: str | None) -> float:
                call_id = starter.evaluate(START_JS, [group_id, policy])
                ms = joiner.evaluate(JOIN_JS, [call_id, policy])
                joiner.evaluate("call.leave()")
                starter.evaluate("call.leave()")
                return float(ms)

            for i in range(rounds):
                if i % 2:  # the order alternates, so neither side always runs warm
                    baseline.append(joiner.evaluate(BASELINE_JS))
                ours.append(setup(None))
                if relay:
                    relayed.append(setup("relay"))
                if not i % 2:
                    baseline.append(joiner.evaluate(BASELINE_JS))
        finally:
            browser.close()
    ratios = sorted(o / b for o, b in zip(ours, baseline, strict=True))
    result = {"rounds": rounds, "itcook_ms": _summary(ours), "baseline_ms": _summary(baseline),
              "ratio_p50": round(median(ratios), 2)}
    if relayed:
        result["relay_ms"] = _summary(relayed)
        paired = sorted(r / o for r, o in zip(relayed, ours, strict=True))
        result["relay_vs_direct_p50"] = round(median(paired), 2)
    return result


def calls_browser(ctx: Any) -> dict[str, Any]:
    """Call setup time in Chromium through a real IT Cook server, paired with the in-page baseline."""
    reason = _missing()
    if reason:
        return {"skipped": reason, "error": reason}
    from tests.support import turn as coturn
    from tests.support.calls import group_with
    from tests.support.rest import Api

    turn = None if coturn.missing() else coturn.TurnServer(ctx.workdir)
    server = ctx.itcook("calls_browser", **(turn.env() if turn else {}))
    try:
        first, second = register(server, "cook1"), register(server, "cook2")
        api = Api(server)
        try:
            group_id = group_with(api, first, second)
        finally:
            api.close()
        result = measure(server.url, first, second, group_id, relay=turn is not None)
        if turn is None:
            result["relay"] = f"skipped: {coturn.missing()}"
        return result
    except BenchError:
        raise
    except Exception as exc:
        raise BenchError(f"calls in Chromium: {type(exc).__name__}: {exc}") from exc
    finally:
        server.stop()
        if turn:
            turn.stop()


class _Alone:
    """The one thing this scenario needs of bench.scenarios.Context: a fresh IT Cook server."""

    def __init__(self, scratch: Path) -> None:
        self.workdir = scratch

    def itcook(self, name: str, **extra: str) -> Any:
        from bench.harness import Server, itcook_env, migrate

        url = f"sqlite:///{self.workdir / (name + '.db')}"
        migrate(url)
        return Server(name, "bench.servers.itcook", self.workdir, env=itcook_env(url, **extra))


def main() -> int:
    """Run this scenario alone and print its JSON."""
    from bench.harness import workdir

    scratch = workdir()
    try:
        result = calls_browser(_Alone(scratch))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
