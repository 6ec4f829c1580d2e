"""Chaos with real processes: PostgreSQL connections killed while publishing, SIGTERM mid-traffic.

Each ends with the soak invariants: every client has exactly the logged events of its channels,
once, in order; and every post the API accepted has its event in the log.
"""

from __future__ import annotations

import json
import random
import signal
import socket

import gevent
from sqlalchemy import create_engine, text

from tests.support import soak
from tests.support.cluster import PG_URL, Cluster
from tests.support.rest import Api
from tests.support.waiting import wait_for


def _clients(servers, users, count: int, seed: int) -> list[soak.SoakClient]:
    rng = random.Random(seed)
    clients = soak.make_clients(users, [], count, rng)
    for client in clients:  # community carries every post of these tests
        client.channels, client.keys = ["community", "personal"], {"community",
                                                                   f"user:{client.user['user']['id']}"}
    return clients


def _start_id() -> int:
    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        value = conn.execute(text("SELECT coalesce(max(id), 0) FROM realtime_events")).scalar()
    engine.dispose()
    return int(value)


def _finish(clients, servers, start_id: int, accepted: list[str]) -> dict:
    log = soak.logged_events(PG_URL, start_id)
    engine = create_engine(PG_URL)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT data FROM realtime_events WHERE id > :s AND type = "
                                 "'NewCommunityPost'"), {"s": start_id}).all()
    engine.dispose()
    logged = {(json.loads(r[0]) if isinstance(r[0], str) else r[0])["content"] for r in rows}
    assert set(accepted) <= logged, f"accepted posts without an event: {set(accepted) - logged}"
    for client in clients:
        soak.drain(client, servers[-1], [i for i, ch in log if ch in client.keys])
    return soak.check(clients, log)


def test_postgres_connections_dropped_while_publishing(cluster: Cluster) -> None:
    servers = cluster.start(2)
    users = [Api(servers[0]).register(f"pg{n}") for n in range(3)]
    start_id = _start_id()
    clients = _clients(servers, users, 12, seed=5)
    readers = [gevent.spawn(soak.run_client, c, servers, random.Random(n), 0.01)
               for n, c in enumerate(clients)]
    # Clients first connect without a last id: the events they expect start once they are in.
    wait_for(lambda: Api(servers[0]).call("GET", "/realtime/stats", users[0]).json()["connected_clients"]
             == len(clients), timeout=20, what="every client subscribed on its server")
    accepted: list[str] = []
    failed: list[int] = []

    def publish(server, user, prefix: str) -> None:
        api = Api(server)
        for n in range(30):
            response = api.call("POST", "/community/posts", user, json={"content": f"{prefix}{n}"})
            (accepted.append(f"{prefix}{n}") if response.status_code == 201
             else failed.append(response.status_code))
            gevent.sleep(0.01)

    publishers = [gevent.spawn(publish, servers[n % 2], users[n], f"u{n}-") for n in range(3)]
    killer = create_engine(PG_URL)
    for round_ in range(3):
        goal = 15 * (round_ + 1)
        wait_for(lambda goal=goal: len(accepted) >= goal, timeout=30, what="traffic before a kill")
        with killer.connect() as conn:
            killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                                       "AND backend_type = 'client backend'")).scalar()
            conn.commit()
        assert killed >= 1
    killer.dispose()
    gevent.joinall(publishers, timeout=120, raise_error=True)
    gevent.killall(readers, timeout=10)
    assert all(code == 500 for code in failed), failed  # a request whose connection died: JSON 500
    summary = _finish(clients, servers, start_id, accepted)
    assert len(accepted) >= 80, f"too many requests failed: {len(failed)}"
    print("pg chaos:", summary, "failed requests:", len(failed))


def test_sigterm_closes_streams_with_1001_finishes_requests_and_loses_nothing(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    users = [Api(a).register(f"term{n}") for n in range(2)]
    start_id = _start_id()
    clients = _clients([a], users, 6, seed=9)
    for client in clients:
        client.open(a)
    wait_for(lambda: Api(a).call("GET", "/realtime/stats", users[0]).json()["connected_clients"] == 6,
             timeout=10, what="clients on the first server")
    Api(a).call("POST", "/community/posts", users[0], expect=201, json={"content": "before"})
    for client in clients:
        client.take(client.frame(10))
    # A REST request in flight: its body is only half sent when the server is told to stop.
    body = json.dumps({"content": "in flight"}).encode()
    raw = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    raw.sendall((f"POST /api/v1/community/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Authorization: Bearer {users[1]['access_token']}\r\nContent-Length: {len(body)}\r\n"
                 f"Expect: 100-continue\r\nConnection: close\r\n\r\n").encode() + body[:5])
    # gevent answers "100 Continue" when the view starts reading the body: the request is in flight.
    interim = b""
    while b"\r\n\r\n" not in interim:
        interim += raw.recv(1)
    assert interim.startswith(b"HTTP/1.1 100")
    a.proc.send_signal(signal.SIGTERM)
    codes = []
    for client in clients:
        try:
            while True:
                client.take(client.frame(10))
        except Exception as exc:  # the server closed the stream
            codes.append(getattr(exc, "code", "sse-ended"))
        client.close()
    assert set(codes) <= {1001, "sse-ended"} and 1001 in codes, codes
    raw.sendall(body[5:])
    response = b""
    while chunk := raw.recv(65536):
        response += chunk
    raw.close()
    assert response.startswith(b"HTTP/1.1 201"), response[:200]
    assert a.proc.wait(timeout=20) == 0
    Api(b).call("POST", "/community/posts", users[0], expect=201, json={"content": "after"})
    summary = _finish(clients, [b], start_id, ["before", "in flight", "after"])
    assert summary["deliveries"] == 6 * 3
