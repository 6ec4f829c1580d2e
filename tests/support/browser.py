"""Browser test helpers: pages served from the app's own origin with the client script, the
demo page driven like a user, and requests counted as the server saw them."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: Milliseconds any single wait on the page may take.
WAIT_MS = 10_000

#: Client options that keep reconnect tests short.
FAST_CLIENT = {"reconnect": {"initialDelay": 100, "maxDelay": 1000, "minUptime": 1000}}


HARNESS = """<!doctype html><meta charset="utf-8"><title>harness</title>
<link rel="icon" href="data:,">
<script src="/static/itcook-realtime.js"></script>
<script>
window.log = {frames: [], states: [], closes: [], authErrors: [], getTokenCalls: 0};
window.startClient = (opts) => {
  const o = Object.assign({}, opts);
  const mode = o.getTokenMode; delete o.getTokenMode;
  if (mode !== undefined) {
    o.getToken = () => {
      log.getTokenCalls++;
      if (mode === "garbage") return "garbage-" + log.getTokenCalls;
      return mode;  // null (none to give) or a token string
    };
  }
  o.onStateChange = (state, info) => log.states.push({state, transport: info.transport,
    reason: info.reason || null, code: info.code == null ? null : info.code});
  o.onAuthError = (info) => log.authErrors.push(info);
  const client = new ITCookRealtime(o);
  client.on("*", (data, frame) => log.frames.push(frame));
  client.on("close", (info) => log.closes.push(info));
  window.client = client;
  client.connect();
  return true;
};
window.ids = (type) => log.frames.filter((f) => !type || f.type === type).map((f) => f.id);
</script>"""


class HarnessPages:
    """WSGI middleware serving test pages from the app's own origin.

    A page fulfilled by ``page.route`` has no real address, and Chromium's Local Network Access
    checks then refuse its WebSocket to 127.0.0.1; a page the server really sends is local.
    """

    def __init__(self, app: Flask) -> None:
        self.pages: dict[str, bytes] = {}
        self._inner = app.wsgi_app
        app.wsgi_app = self  # type: ignore[method-assign]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = self.pages.get(environ.get("PATH_INFO", ""))
        if body is None:
            return self._inner(environ, start_response)
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return [body]


def open_harness(page: Any, server: Any, html: str = HARNESS) -> None:
    """Load a bare page from ``server``'s origin with the client script and a frame log."""
    harness = server.app.extensions.get("test_harness")
    if harness is None:
        harness = server.app.extensions["test_harness"] = HarnessPages(server.app)
    path = f"/__harness__/{len(harness.pages)}"
    harness.pages[path] = html.encode()
    page.goto(server.url + path)


def start_client(page: Any, token: str | None, **options: Any) -> None:
    """``new ITCookRealtime({token, ...FAST_CLIENT, ...options}).connect()`` in the harness."""
    page.evaluate("(o) => startClient(o)", {"token": token, **FAST_CLIENT, **options})


def wait_open(page: Any, transport: str | None = None) -> None:
    """Wait until the page's client is open (on ``transport`` if given)."""
    page.wait_for_function("(t) => client.state === 'open' && (!t || client.transport === t)",
                           arg=transport, timeout=WAIT_MS)


def wait_frames(page: Any, frame_type: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait for ``count`` frames of ``frame_type``; return every frame of that type."""
    page.wait_for_function("([t, n]) => log.frames.filter((f) => f.type === t).length >= n",
                           arg=[frame_type, count], timeout=WAIT_MS)
    return page.evaluate("(t) => log.frames.filter((f) => f.type === t)", frame_type)


def demo_register(page: Any, server: Any, username: str, query: str = "", button: str = "register") -> None:
    """Open the demo page (``/`` + ``query``), register (or ``button="login"``) and wait until live."""
    page.goto(server.url + "/" + query)
    page.fill("#auth-username", username)
    page.fill("#auth-password", "secret123")
    page.click(f"#{button}-button")
    page.wait_for_selector("#conn[data-state='open']")


def demo_login(page: Any, server: Any, username: str, query: str = "") -> None:
    """Open the demo page and log in as an existing user; wait until live."""
    demo_register(page, server, username, query, button="login")


class RequestCounter:
    """WSGI middleware counting requests by path (what the server saw, not what the page thinks)."""

    def __init__(self, app: Flask) -> None:
        self.counts: Counter[str] = Counter()
        self._inner = app.wsgi_app
        app.wsgi_app = self  # type: ignore[method-assign]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.counts[environ.get("PATH_INFO", "")] += 1
        return self._inner(environ, start_response)


#: In the page: ``window.decodedFrames(pc)``, the video frames an RTCPeerConnection decoded so far.
DECODED_FRAMES = """window.decodedFrames = async (pc) => {
  if (!pc) return 0;
  let frames = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
  });
  return frames;
};"""


def wait_decoded_frames(page: Any, pc_expression: str, minimum: int, timeout_ms: int = WAIT_MS) -> int:
    """Wait until the RTCPeerConnection ``pc_expression`` (page JS) decoded ``minimum`` video frames."""
    # wait_for_function polls a synchronous predicate: getStats() is async, so a page timer
    # keeps its latest answer where the predicate can read it.
    page.evaluate("""(expr) => { window.__frames = 0; clearInterval(window.__framesTimer);
      window.__framesTimer = setInterval(async () => {
        try { window.__frames = await window.decodedFrames(eval(expr)); } catch (e) { window.__frames = -1; }
      }, 200); }""", pc_expression)
    page.wait_for_function("(n) => window.__frames >= n", arg=minimum, timeout=timeout_ms)
    return int(page.evaluate("() => window.__frames"))


#: axe-core, installed by ``npm ci`` in tests/clients/node (the CI script runs it).
AXE_SCRIPT = Path(__file__).resolve().parents[1] / "clients/node/node_modules/axe-core/axe.min.js"
#: What a page may not have at all.
AXE_BLOCKING = ("serious", "critical")
#: Every impact axe reports, for pages held to having none.
AXE_ALL = ("minor", "moderate", "serious", "critical")


def axe_violations(page: Any, context: str | None = None,
                   impacts: tuple[str, ...] = AXE_BLOCKING) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.x A/AA rules) in ``page``; return its violations of ``impacts``
    (serious and critical unless told).

    The script is evaluated, not added as a tag, so a page's Content-Security-Policy does not
    keep it out. Skips the test when axe-core is not installed, unless ITCOOK_REQUIRE_BROWSER=1.
    """
    if not AXE_SCRIPT.exists():
        reason = f"axe-core not installed ({AXE_SCRIPT}): run npm ci in tests/clients/node"
        if os.environ.get("ITCOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ITCOOK_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8") + "\n;void 0")
    result = page.evaluate("""async (context) => {
        const r = await axe.run(context || document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}});
        return r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' '))}));
    }""", context)
    return [v for v in result if v["impact"] in impacts]
