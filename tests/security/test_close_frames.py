"""A server-initiated close never tears a frame: a client that reads slowly (a trickle) is closed
as a slow consumer, and what it reads is whole frames and then the 4002 close — or, when the
socket could not take even the rest of the frame in flight, that frame cut short, nothing in it.
(The close frame used to be written straight after a frame only partly on the wire: the client
read it as payload, and never saw the code.)
"""

from __future__ import annotations

import codecs
import socket

import gevent
import gevent.event
import pytest

from itcook.realtime.events import Event
from tests.support.frames import TEXT, RawWs
from tests.support.stats import StatsProbe
from tests.support.waiting import wait_for


@pytest.mark.realtime_config(REALTIME_SEND_BUFFER_BYTES=20_000, REALTIME_HEARTBEAT_INTERVAL=600.0)
def test_slow_consumer_close_does_not_tear_a_frame(live_server, api, bystander, observer) -> None:
    user = api.register("trickle")
    probe = StatsProbe(api, observer)
    ws = RawWs(live_server.port, user["access_token"], rcvbuf=4096)
    wait_for(lambda: len(live_server.state.hub.connections) == 2, what="the trickle client")
    received = bytearray()
    done = gevent.event.Event()

    def trickle() -> None:  # 2 KB every 20 ms while the server writes; then all that is left
        ws.sock.settimeout(10)
        for _ in range(200_000):
            try:
                chunk = ws.sock.recv(2048)
            except TimeoutError:
                raise  # the server never closed: ``done`` stays unset and the test fails
            except OSError:
                break
            if not chunk:
                break
            received.extend(chunk)
            # 100 KB/s: far below what even a slow database lets the publisher write.
            gevent.sleep(0.02 if not conn.closed else 0)
        done.set()

    state = live_server.state
    conn = next(c for c in state.hub.connections if c.user_id == user["user"]["id"])
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # a small path: fewer events
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
    if ws.buf:
        # The socket could not take the rest of the last frame when the server gave up: the
        # stream ends inside it (the client sees an abnormal close). What did arrive of it
        # must be that frame alone — text, valid UTF-8 so far, no close frame written into it.
        assert all(f.opcode == TEXT for f in frames)
        head = bytes(ws.buf)
        assert head[0] == 0x81 and head[1] == 126, head[:4]
        codecs.getincrementaldecoder("utf-8")().decode(head[4:], final=False)  # raises if torn
        assert b"slow_consumer" not in head
    else:  # whole frames, then the 4002 close (unless not even that fitted in the socket)
        assert all(f.opcode == TEXT for f in frames[:-1])
        assert frames[-1].opcode == TEXT or frames[-1].close_code == 4002
    assert probe.delta()["disconnects_by_reason"] == {"slow_consumer": 1}
    bystander.assert_unaffected()
