"""One session per credential form with the ``websockets`` library (its sync client), run as a
plain Python process — not under gevent: its client polls the socket from a thread, and under
gevent's monkey-patching closing that socket mid-poll aborts libev.

Usage: python websockets_session.py '{"base": "http://127.0.0.1:PORT", "token": "<access token>"}'
Prints one JSON line per form (connect, subscribe, receive an event, ping/pong, close with a
code and the server's echo); exits non-zero with a message on the first failure.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from typing import Any

from websockets.sync.client import ClientConnection, connect

STEP = 10.0


def rest(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        base + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=STEP) as response:
        return json.loads(response.read())


def next_frame(ws: ClientConnection, accept: Any, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + STEP
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"timed out: {what}")
        raw = ws.recv(timeout=remaining)
        if not isinstance(raw, str):
            raise AssertionError("the server sent a binary frame")
        frame = json.loads(raw)
        if accept(frame):
            return frame  # type: ignore[no-any-return]


def session(base: str, token: str, form: str) -> dict[str, Any]:
    url = base.replace("http", "ws", 1) + "/api/v1/realtime/ws"
    options: dict[str, Any] = {"open_timeout": STEP, "close_timeout": STEP}
    if form == "bearer":
        options["additional_headers"] = {"Authorization": f"Bearer {token}"}
    elif form == "ticket":
        url += "?ticket=" + rest(base, token, "POST", "/api/v1/realtime/ticket")["ticket"]
    else:
        options["subprotocols"] = ["itcook.v1", f"bearer.{token}"]
    with connect(url, **options) as ws:
        ws.send(json.dumps({"type": "Subscribe", "channels": ["community"]}))
        subscribed = next_frame(ws, lambda f: f["type"] == "Subscribed", "Subscribed")
        content = f"websockets, {form}"
        rest(base, token, "POST", "/api/v1/community/posts", {"content": content})
        event = next_frame(ws, lambda f: f["type"] == "NewCommunityPost" and f["data"]["content"] == content,
                           "event")
        payload = f"ping {form}".encode()
        if not ws.ping(payload).wait(STEP):
            raise TimeoutError("timed out: pong")
        ws.close(4000, f"bye {form}")
        received = ws.protocol.close_rcvd  # the close frame the server sent back
        return {"form": form, "subprotocol": ws.subprotocol, "subscribed": subscribed["data"]["channels"],
                "event": event, "pong": payload.decode(),
                "close_code": received.code if received else None,
                "close_reason": received.reason if received else None}


def main() -> None:
    args = json.loads(sys.argv[1])
    for form in args.get("forms", ["bearer", "ticket", "subprotocol"]):
        print(json.dumps(session(args["base"], args["token"], form)), flush=True)


if __name__ == "__main__":
    main()
