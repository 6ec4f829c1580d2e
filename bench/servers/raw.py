"""The raw limit: a minimal gevent loop writing one pre-encoded frame to N plain loopback sockets.

Run from the repository root: ``python -m bench.servers.raw PORT``. A subscriber sends any
request head and gets a bare ``101`` back (``GET /raw-sse``: a bare ``200`` and an event stream);
then it only receives. Publishing encodes each event once (the same JSON object, WebSocket
framing and SSE message as IT Cook) and calls the non-blocking ``send`` of every socket in a
row: there is no less work a Python process can do per delivery.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs, urlsplit  # noqa: E402

from gevent.server import StreamServer  # noqa: E402

from bench.servers.frames import PAD, frame  # noqa: E402
from itcook.realtime.events import dumps, sse_message, ws_frame  # noqa: E402

subscribers: dict[Any, Any] = {}  # raw OS socket -> gevent socket (WebSocket clients)
streams: dict[Any, Any] = {}  # the same, for SSE clients
state = {"seq": 0, "partial_writes": 0}
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"


def fanout(members: dict[Any, Any], data: bytes) -> None:
    """Write ``data`` to every member; a partial write finishes cooperatively (rare)."""
    for raw in tuple(members):
        try:
            sent = raw.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            members.pop(raw, None)
            continue
        if sent != len(data):
            state["partial_writes"] += 1
            try:
                members[raw].sendall(data[sent:])
            except OSError:
                members.pop(raw, None)


def _answer(sock: Any, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)


def handle(sock: Any, address: Any) -> None:
    """One connection: a control request (publish, ready) or a subscriber."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            return
        head += chunk
    method, target = head.split(b" ", 2)[:2]
    url = urlsplit(target.decode())
    if url.path == "/bench/publish":
        count = int(parse_qs(url.query).get("count", ["1"])[0])
        for _ in range(count):
            seq = state["seq"] = state["seq"] + 1
            payload = dumps(frame(seq, seq, PAD))
            if subscribers:
                fanout(subscribers, ws_frame(payload))
            if streams:
                fanout(streams, sse_message(payload, "SystemNotification", seq))
        _answer(sock, {"last_seq": state["seq"], "partial_writes": state["partial_writes"]})
        return
    if url.path == "/bench/ready":
        _answer(sock, {"subscribers": len(subscribers) + len(streams)})
        return
    sse = url.path == "/raw-sse"
    members = streams if sse else subscribers
    sock.sendall(SSE_HEAD if sse else b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    raw = getattr(sock, "_sock", sock)
    members[raw] = sock
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass
    finally:
        members.pop(raw, None)


if __name__ == "__main__":
    StreamServer(("127.0.0.1", int(sys.argv[1])), handle, backlog=4096).serve_forever()
