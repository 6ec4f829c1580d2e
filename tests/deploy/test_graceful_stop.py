"""A graceful stop, without a proxy: gunicorn's worker on SIGTERM and ``python wsgi.py`` on
SIGTERM or SIGINT close streams at once (the grace period is 30 s here, far longer than any
wait below), close idle keep-alive connections, let the request in flight finish with
``Connection: close``, exit, and print no traceback."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support.cluster import reset_database
from tests.support.deploy import Process, children, raw_request, read_until, server_env, start_gunicorn
from tests.support.rest import Api
from tests.support.servers import free_port
from tests.support.waiting import wait_for
from tests.support.ws import Client, ConnectionClosed, ws_connect

#: Every wait for the stop to show: far less than the grace period (ITCOOK_SHUTDOWN_GRACE=30).
PROMPTLY = 8.0


def _close_code(client: Client) -> int | None:
    """The close code of ``client``'s WebSocket, which must close within ``PROMPTLY`` seconds
    (heartbeats keep arriving until then: a per-read timeout would never end the wait)."""
    deadline = time.monotonic() + PROMPTLY
    while time.monotonic() < deadline:
        try:
            client.recv_raw(PROMPTLY)
        except ConnectionClosed as exc:
            client.sock.close()
            return exc.code
    raise AssertionError(f"the WebSocket was not closed within {PROMPTLY} s")


def _stop_with_everything_open(server: Process, signum: int, target_pid: int) -> int:
    """Open a WebSocket, an SSE stream, an idle keep-alive connection and a request whose body
    is half sent; send ``signum`` to ``target_pid``; check each. Returns the id of the last
    event the WebSocket received."""
    api = Api(server)
    anna = api.register("anna")
    client = ws_connect(server, anna["access_token"])
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "before"})
    seen = client.recv_type("NewCommunityPost")["id"]
    auth = f"Authorization: Bearer {anna['access_token']}"
    sse = raw_request(server.port, f"GET /api/v1/realtime/sse HTTP/1.1\nHost: x\n{auth}")
    read_until(sse, PROMPTLY, lambda data: b"retry: " in data)
    idle = raw_request(server.port, f"GET /api/v1/auth/me HTTP/1.1\nHost: x\n{auth}")
    first = read_until(idle, PROMPTLY, lambda data: b'"username"' in data and data.endswith(b"}\n"))
    assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower()
    body = json.dumps({"content": "in flight"}).encode()
    flight = raw_request(server.port, f"POST /api/v1/community/posts HTTP/1.1\nHost: x\n{auth}\n"
                                      f"Content-Type: application/json\nContent-Length: {len(body)}\n"
                                      f"Expect: 100-continue", body[:5])
    # "100 Continue": the server took the request in and waits for its body.
    assert read_until(flight, PROMPTLY, lambda data: b"\r\n\r\n" in data).startswith(b"HTTP/1.1 100")

    os.kill(target_pid, signum)
    assert _close_code(client) == 1001
    tail = read_until(sse, PROMPTLY)  # to the end of the stream: the server closes it
    assert b"\nretry: " in tail.rsplit(b": server_shutdown", 1)[-1] and tail.endswith(b"\n\n"), tail[-200:]
    assert read_until(idle, PROMPTLY) == b"", "an idle keep-alive connection is closed, silently"
    flight.sendall(body[5:])
    head = read_until(flight, PROMPTLY).partition(b"\r\n\r\n")[0]
    assert head.startswith(b"HTTP/1.1 201") and b"connection: close" in head.lower(), head
    for sock in (sse, idle, flight):
        sock.close()
    return seen


def test_sigterm_to_a_gunicorn_worker_then_to_the_master(tmp_path: Path) -> None:
    reset_database()
    server = start_gunicorn(tmp_path, workers=1)
    try:
        (worker,) = children(server.proc.pid)
        seen = _stop_with_everything_open(server, signal.SIGTERM, worker)
        wait_for(lambda: worker not in children(server.proc.pid), PROMPTLY, "the worker to exit")
        server.wait_ready()  # the master started another one; a client resumes there
        anna = Api(server).http.post(f"{server.url}/api/v1/auth/login", timeout=10,
                                     json={"username": "anna", "password": "secret123"}).json()
        client = ws_connect(server, anna["access_token"], query=f"?last_event_id={seen}")
        assert client.recv_type("NewCommunityPost")["data"]["content"] == "in flight"
        server.send(signal.SIGTERM)  # to the master: it stops its workers the same way
        assert _close_code(client) == 1001
        assert server.wait(PROMPTLY) == 0
    finally:
        server.stop()
    log = server.output()
    assert "Traceback" not in log and "graceful timeout" not in log.lower(), log[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_python_wsgi_py(tmp_path: Path, signum: int) -> None:
    reset_database()
    port = free_port()
    server = Process([sys.executable, "wsgi.py"], {**server_env(tmp_path), "ITCOOK_PORT": str(port)},
                     tmp_path / "wsgi.log", port)
    try:
        server.wait_ready()
        _stop_with_everything_open(server, signum, server.proc.pid)
        assert server.wait(PROMPTLY) == 0
    finally:
        server.stop()
    log = server.output()
    assert "Traceback" not in log, log[-3000:]
