"""Chromium as an independent client of the raw protocol (no client library): a page of the
server's origin opens a native ``WebSocket`` with each credential form a browser can use
(ticket, ``itcook.v1, bearer.<jwt>`` — a browser cannot set an Authorization header),
subscribes, receives an event and a server Heartbeat, sends its own, and closes with a code
the server echoes. JavaScript cannot send a ping frame, so ping/pong is the application's
Heartbeat here; the ``websockets`` and Node ``ws`` sessions (tests/clients) cover ping frames.
"""

from __future__ import annotations

import pytest

from tests.support.browser import open_harness
from tests.support.rest import Api
from tests.support.stats import StatsProbe
from tests.support.waiting import wait_for

PAGE = '<!doctype html><meta charset="utf-8"><title>raw protocol</title><link rel="icon" href="data:,">'

SESSION = """async ([token, form]) => {
  const step = (promise, what) => Promise.race([promise, new Promise((_, reject) =>
    setTimeout(() => reject(new Error("timed out: " + what)), 10000))]);
  const url = location.origin.replace(/^http/, "ws") + "/api/v1/realtime/ws";
  const auth = {Authorization: "Bearer " + token};
  let ws;
  if (form === "ticket") {
    const response = await fetch("/api/v1/realtime/ticket", {method: "POST", headers: auth});
    ws = new WebSocket(url + "?ticket=" + encodeURIComponent((await response.json()).ticket));
  } else {
    ws = new WebSocket(url, ["itcook.v1", "bearer." + token]);
  }
  const frames = [];
  let wake = () => {};
  ws.onmessage = (e) => { frames.push(JSON.parse(e.data)); wake(); };
  const next = (accept, what) => step(new Promise((resolve) => {
    const look = () => {
      const i = frames.findIndex(accept);
      if (i >= 0) resolve(frames.splice(i, 1)[0]); else wake = look;
    };
    look();
  }), what);
  await step(new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("the WebSocket was refused"));
  }), "open");
  ws.send(JSON.stringify({type: "Subscribe", channels: ["community"]}));
  const subscribed = await next((f) => f.type === "Subscribed", "Subscribed");
  const content = "chromium, " + form;
  await fetch("/api/v1/community/posts", {method: "POST", body: JSON.stringify({content}),
    headers: {...auth, "Content-Type": "application/json"}});
  const event = await next((f) => f.type === "NewCommunityPost" && f.data.content === content, "event");
  const heartbeat = await next((f) => f.type === "Heartbeat", "a server Heartbeat");
  ws.send(JSON.stringify({type: "Heartbeat"}));
  const closed = step(new Promise((resolve) => {
    ws.onclose = (e) => resolve({code: e.code, reason: e.reason, clean: e.wasClean});
  }), "close");
  ws.close(4000, "bye " + form);
  const close = await closed;
  const errors = frames.filter((f) => f.type === "Error");
  return {form, subprotocol: ws.protocol, subscribed: subscribed.data.channels, event,
          heartbeat: heartbeat.data, close, errors};
}"""


@pytest.mark.realtime_config(REALTIME_HEARTBEAT_INTERVAL=0.3)
@pytest.mark.parametrize("form", ["ticket", "subprotocol"])
def test_chromium_completes_a_raw_session(live_server, new_page, form) -> None:
    api = Api(live_server)
    user = api.register("browser")
    probe = StatsProbe(api, api.register("observer"))
    page = new_page()
    open_harness(page, live_server, PAGE)
    result = page.evaluate(SESSION, [user["access_token"], form])
    assert result["subprotocol"] == ("itcook.v1" if form == "subprotocol" else "")
    assert result["subscribed"] == ["community"]
    assert result["event"]["type"] == "NewCommunityPost" and isinstance(result["event"]["id"], int)
    assert result["heartbeat"]["ts"].endswith("Z")
    assert result["close"] == {"code": 4000, "reason": f"bye {form}", "clean": True}
    assert result["errors"] == []  # the client's Heartbeat is accepted silently
    want = {"disconnects_by_reason": {"normal": 1}, "errors_by_code": {}, "handshake_failures_by_reason": {}}
    wait_for(lambda: probe.delta() == want, what=f"/stats to show {want}")
