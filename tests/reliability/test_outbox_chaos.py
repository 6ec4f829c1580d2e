"""Kill the server while it commits: every committed change has exactly one event, every client
that resumes gets it, every personal event is in its user's inbox (docs/outbox.md).

A real ``python wsgi.py`` process under a REST posting load (several clients on keep-alive
connections) is SIGKILLed and SIGTERMed in turn, and restarted on SQLite (embedded: in-process
broker) and on PostgreSQL with Redis (scale-out). Ground truth is the database: the posts and
comments that exist are the changes that committed, whatever answer their requests got.
"""

from __future__ import annotations

import itertools
import json
import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
import requests
from sqlalchemy import create_engine, inspect, text

from itcook import create_app
from itcook.extensions import db
from tests.support.cluster import PG_URL, REDIS_HOST, REDIS_PORT, Cluster, Server, reset_database
from tests.support.servers import make_test_config, reachable
from tests.support.soak import SoakClient, drain
from tests.support.waiting import wait_for

#: Kill signals, one per cycle: each leaves requests that committed without an answer.
CYCLES = (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGTERM)
POSTERS = 10
#: Changes committed per cycle before the kill (with the posters still going).
PER_CYCLE = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A one-server "cluster" on the database of the parameter; recovery settings shortened."""
    settings = {"ITCOOK_REALTIME_OUTBOX_INTERVAL": "0.2", "ITCOOK_REALTIME_OUTBOX_GRACE": "1.0"}
    if request.param == "postgresql":
        if not (reachable("127.0.0.1", 5432) and reachable("127.0.0.1", REDIS_PORT)):
            pytest.skip("needs PostgreSQL and Redis on 127.0.0.1")
        reset_database()
        group = Cluster(tmp_path, REDIS_PORT, **settings)
    else:
        url = f"sqlite:///{tmp_path / 'chaos.db'}"
        app = create_app(make_test_config(tmp_path, DATABASE_URL=url))
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        group = Cluster(tmp_path, REDIS_PORT, ITCOOK_DATABASE_URL=url, ITCOOK_BROKER_URL="memory://",
                        **settings)
    group.env["ITCOOK_LOG_LEVEL"] = "ERROR"
    assert REDIS_HOST  # the PostgreSQL run shares Redis under the cluster's random prefix
    yield group
    group.stop()


class Load:
    """Posters on keep-alive connections: community posts and comments on anna's post."""

    def __init__(self, servers: list[Server], anna: dict[str, Any], bob: dict[str, Any],
                 post_id: int) -> None:
        self.servers = servers
        self.anna, self.bob, self.post_id = anna, bob, post_id
        self.answered = 0  # 201s received: changes known to have committed
        self.greenlets = [gevent.spawn(self._post, n) for n in range(POSTERS)]

    def _post(self, n: int) -> None:
        http = requests.Session()
        for count in itertools.count():
            base = self.servers[0].url + "/api/v1"
            try:
                if count % 2:
                    response = http.post(f"{base}/community/posts/{self.post_id}/comments",
                                         json={"content": f"c{n}.{count}"}, headers=self.bob["headers"],
                                         timeout=5)
                else:
                    response = http.post(f"{base}/community/posts", json={"content": f"p{n}.{count}"},
                                         headers=self.anna["headers"], timeout=5)
            except requests.RequestException:
                http = requests.Session()
                gevent.sleep(0.02)  # the server is down: try again once it is back
                continue
            if response.status_code == 201:
                self.answered += 1

    def stop(self) -> None:
        gevent.killall(self.greenlets, timeout=10)


def _read(client: SoakClient, servers: list[Server], recovered: list[bool]) -> None:
    """Read and, whenever the stream ends, resume from the last id on the current server."""
    while True:
        try:
            client.open(servers[0])
        except Exception:
            gevent.sleep(0.05)  # down: reconnect once it is back
            continue
        while True:
            try:
                frame = client.frame(timeout=1.0)
            except TimeoutError:
                continue
            except Exception:
                break
            if frame.get("type") == "Recovery":
                recovered.append(bool(frame["data"]["recovered"]))
            client.take(frame)
        client.close()
        client.reconnects += 1


def _ground_truth(url: str) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            def rows(sql: str) -> list[Any]:
                return list(conn.execute(text(sql)).all())

            return {
                "posts": {r[0] for r in rows("SELECT id FROM posts")},
                "comments": {r[0] for r in rows("SELECT id FROM comments")},
                "events": [(r[0], r[1], r[2], json.loads(r[3]) if isinstance(r[3], str) else r[3])
                           for r in rows("SELECT id, type, channel, data FROM realtime_events ORDER BY id")],
                "inbox": {r[0] for r in rows("SELECT id FROM notifications")},
                # (No such table before the outbox: nothing would be left to publish.)
                "outbox": [r[0] for r in rows("SELECT event_id FROM realtime_outbox")]
                if inspect(conn).has_table("realtime_outbox") else [],
            }
    finally:
        engine.dispose()


def test_killed_server_loses_no_committed_event_and_publishes_each_once(cluster: Cluster) -> None:
    url = cluster.env.get("ITCOOK_DATABASE_URL", PG_URL)
    servers = cluster.start(1)
    anna, bob = (requests.post(servers[0].url + "/api/v1/auth/register",
                               json={"username": name, "password": "secret123"}, timeout=10).json()
                 for name in ("anna", "bob"))
    for user in (anna, bob):
        user["headers"] = {"Authorization": f"Bearer {user['access_token']}"}
    post_id = requests.post(servers[0].url + "/api/v1/community/posts", json={"content": "p"},
                            headers=anna["headers"], timeout=10).json()["id"]
    anna_key = f"user:{anna['user']['id']}"
    clients = [SoakClient(f"anna-{transport}", anna, transport, ["community", "personal"],
                          {"community", anna_key}, last_id=0)
               for transport in ("websocket", "sse")]
    recovered: list[bool] = []
    readers = [gevent.spawn(_read, client, servers, recovered) for client in clients]
    load = Load(servers, anna, bob, post_id)
    rng = random.Random(11)
    try:
        for cycle, sig in enumerate(CYCLES, 1):
            wait_for(lambda c=cycle: load.answered >= c * PER_CYCLE, timeout=60,
                     what=f"the posting load of cycle {cycle}")
            victim = servers[0]
            gevent.sleep(rng.random() * 0.05)  # somewhere in the middle of requests
            victim.proc.send_signal(sig)
            victim.proc.wait(timeout=30)
            servers[0] = Server(cluster.env, f"server{cycle}")
            cluster.servers.append(servers[0])
        wait_for(lambda: load.answered >= (len(CYCLES) + 1) * PER_CYCLE, timeout=60,
                 what="posts after the last restart")
    finally:
        load.stop()
    truth: dict[str, Any] = {}
    ordered = cluster.env["ITCOOK_BROKER_URL"] == "memory://"  # see the live check below

    def settled() -> bool:
        truth.update(_ground_truth(url))
        expected = {e[0] for e in truth["events"] if e[2] in ("community", anna_key)}
        if ordered:
            return not truth["outbox"] and all(expected <= c.seen for c in clients)
        return not truth["outbox"] and all((c.last_id or 0) >= max(expected) for c in clients)

    try:
        wait_for(settled, timeout=30, what="the relay and every client to catch up")
    except AssertionError:
        pass  # the assertions below say what is missing
    finally:
        gevent.killall(readers, timeout=10)
        for client in clients:
            client.close()

    events = truth["events"]
    posts = [e[3]["post_id"] for e in events if e[1] == "NewCommunityPost"]
    comments_public = [e[3]["comment_id"] for e in events
                       if e[1] == "NewComment" and e[2] == f"post:{post_id}"]
    personal = [e for e in events if e[1] == "NewComment" and e[2] == anna_key]
    # An event exists exactly when its change committed: one per row, none without a row.
    assert sorted(posts) == sorted(truth["posts"]), (
        f"posts without an event: {sorted(truth['posts'] - set(posts))[:10]}, "
        f"events without a post or twice: "
        f"{sorted(p for p in posts if posts.count(p) > 1 or p not in truth['posts'])[:10]}")
    assert sorted(comments_public) == sorted(truth["comments"]), (
        f"comments without an event: {sorted(truth['comments'] - set(comments_public))[:10]}")
    assert sorted(e[3]["comment_id"] for e in personal) == sorted(truth["comments"])
    # Every personal event is in the inbox, under its event's id.
    assert {e[0] for e in personal} <= truth["inbox"], "personal events never filed in the inbox"
    # Everything logged was published (the relay took what the dead processes left).
    assert truth["outbox"] == [], f"logged, never published: {truth['outbox'][:10]}"
    expected = [e[0] for e in events if e[2] in ("community", anna_key)]
    for client in clients:  # resumed after every restart
        assert not client.duplicates, f"{client.name}: ids twice {client.duplicates[:10]}"
        assert client.seen <= set(expected), f"{client.name}: ids that are not logged"
        if ordered:
            # Live completeness needs ids dispatched in id order: on SQLite commits are. On
            # PostgreSQL concurrent transactions commit out of id order, and the dispatcher's
            # sequencer (issue 23) holds a later id for an earlier one; until then a live
            # connection can pass over an id, which the resumes below still give.
            assert sorted(client.seen) == expected, (
                f"{client.name}: missing {sorted(set(expected) - client.seen)[:10]} "
                f"after {client.reconnects} reconnects")
    assert recovered and all(recovered)
    # A client resuming from before the first kill, on either transport, gets every event once.
    for transport in ("websocket", "sse"):
        late = SoakClient(f"late-{transport}", anna, transport, ["community", "personal"],
                          {"community", anna_key}, last_id=0)
        drain(late, servers[0], expected)
        assert not late.duplicates and late.received == expected, (
            f"{late.name}: missing {sorted(set(expected) - late.seen)[:10]}")
