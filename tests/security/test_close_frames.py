"""A server-initiated close never tears a frame: a client that reads slowly (a trickle) is closed
as a slow consumer, and everything it reads up to the end parses as whole frames — the last one
the 4002 close if the server could write it at all (the README promises frames are never torn).
"""

from __future__ import annotations

import socket

import gevent
import gevent.event
import pytest

from itcook.realtime.events import Event
from tests.realtime.conftest import wait_for
from tests.security.frames import CLOSE, TEXT, RawWs


@pytest.mark.realtime_config(REALTIME_SEND_BUFFER_BYTES=60_000, REALTIME_HEARTBEAT_INTERVAL=600.0)
def test_slow_consumer_close_does_not_tear_a_frame(live_server, api, bystander) -> None:
    user = api.register("trickle")
    ws = RawWs(live_server.port, user["access_token"])
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    wait_for(lambda: len(live_server.state.hub.connections) == 2, what="the trickle client")
    received = bytearray()
    done = gevent.event.Event()

    def trickle() -> None:  # 2 KB every 5 ms while the server writes; then all that is left
        ws.sock.settimeout(10)
        for _ in range(200_000):
            try:
                chunk = ws.sock.recv(2048)
            except OSError:
                break
            if not chunk:
                break
            received.extend(chunk)
            gevent.sleep(0.005 if not conn.closed else 0)
        done.set()

    state = live_server.state
    conn = next(c for c in state.hub.connections if c.user_id == user["user"]["id"])
    reader = gevent.spawn(trickle)
    with live_server.app.app_context():
        for n in range(5000):  # bounded: until the server gives up on the slow client
            if conn.closed:
                break
            state.publish_event(Event(type="SystemNotification", channel=f"user:{user['user']['id']}",
                                      data={"title": str(n), "message": "m" * 1500, "level": "info"}))
            gevent.sleep(0)
    assert conn.closed and conn.close_code == 4002
    assert done.wait(15), "the server never closed the TCP connection"
    reader.join(1)
    ws.buf = received  # parse everything the client got, strictly
    ws.eof = True
    frames = []
    while True:
        frame = ws.next_frame(timeout=0.1)
        if frame is None:
            break
        frames.append(frame)
    assert not ws.buf, f"{len(ws.buf)} bytes left that are not a whole frame (a torn frame)"
    assert all(f.opcode == TEXT for f in frames[:-1])
    assert frames[-1].opcode in (TEXT, CLOSE)
    if frames[-1].opcode == CLOSE:
        assert frames[-1].close_code == 4002
    bystander.assert_unaffected()
