"""The soak harness: many clients on both transports, random channels, random disconnects and
resumes, events of every type from several publishers — then exact invariants.

Ground truth is the event log itself: after the publishers stop, every durable event with an id
above the starting point is expected, exactly once and in order, by every client whose channels
include its channel, and by nobody else. Used by ``tests/reliability/test_soak.py`` (short), the
cluster tests, and ``python -m tests.reliability.soak`` (``make soak``, long).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
from sqlalchemy import create_engine, select, text

from tests.support.streams import Stream


@dataclass
class SoakClient:
    """One simulated user agent: a fixed channel set, reconnecting and resuming at random."""

    name: str
    user: dict[str, Any]
    transport: str
    channels: list[str]  # names as the client asks for them
    keys: set[str]  # the log's channel keys those names mean
    received: list[int] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)
    duplicates: list[int] = field(default_factory=list)
    foreign: list[dict[str, Any]] = field(default_factory=list)
    reconnects: int = 0
    last_id: int | None = None
    stream: Stream | None = None

    def query(self) -> str:
        q = "?channels=" + ",".join(self.channels)
        return q + (f"&last_event_id={self.last_id}" if self.last_id is not None else "")

    def open(self, server: Any) -> None:
        self.stream = Stream(self.transport, server, self.user["access_token"], self.query(), read_timeout=5)

    def frame(self, timeout: float) -> dict[str, Any]:
        return self.stream.frame(timeout)

    def take(self, frame: dict[str, Any]) -> None:
        event_id = frame.get("id")
        if event_id is None:
            return
        if event_id in self.seen:
            self.duplicates.append(event_id)
            return
        self.seen.add(event_id)
        self.received.append(event_id)
        self.last_id = event_id
        wire = frame["channel"]
        key = f"user:{self.user['user']['id']}" if wire == "personal" else wire
        if key not in self.keys:
            self.foreign.append(frame)

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except Exception:
                pass
            self.stream = None


def run_client(client: SoakClient, servers: list[Any], rng: random.Random, disconnect_rate: float) -> None:
    """Read, and now and then drop the connection and resume on a random server, until killed."""
    try:
        client.open(rng.choice(servers))
        while True:
            try:
                frame = client.frame(timeout=1.0)
            except TimeoutError:
                continue  # an idle WebSocket: keep listening
            except Exception:  # closed by the server (shutdown, slow consumer), reset, SSE timeout
                frame = None
            if frame is not None:
                client.take(frame)
            if frame is None or rng.random() < disconnect_rate:
                client.close()
                client.reconnects += 1
                # Away for a while: the resume then replays several batches while events flow.
                gevent.sleep(rng.random() * 0.2)
                client.open(rng.choice(servers))
    finally:
        client.close()


def drain(client: SoakClient, server: Any, expected: list[int], timeout: float = 30.0) -> None:
    """Resume once more and read until every expected id arrived (bounded)."""
    missing = set(expected) - client.seen
    if not missing:
        return
    client.open(server)
    deadline = gevent.timeout.Timeout(timeout)
    deadline.start()
    try:
        while set(expected) - client.seen:
            client.take(client.frame(timeout=5))
    except (gevent.timeout.Timeout, Exception):
        pass  # a read that times out: check() reports what is missing
    finally:
        deadline.cancel()
        client.close()


def logged_events(database_url: str, after_id: int) -> list[tuple[int, str]]:
    """(id, channel) of every logged event after ``after_id``, in id order."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(text("id"), text("channel")).select_from(text("realtime_events"))
                                .where(text("id > :after")).order_by(text("id")), {"after": after_id})
            return [(int(r[0]), str(r[1])) for r in rows]
    finally:
        engine.dispose()


def check(clients: list[SoakClient], log: list[tuple[int, str]]) -> dict[str, Any]:
    """Assert the invariants; return a summary."""
    for client in clients:
        expected = [i for i, channel in log if channel in client.keys]
        assert not client.duplicates, f"{client.name}: duplicates {client.duplicates[:5]}"
        assert not client.foreign, f"{client.name}: got events not meant for it {client.foreign[:2]}"
        assert client.received == expected, (
            f"{client.name} ({client.transport}, {client.channels}): "
            f"missing {sorted(set(expected) - set(client.received))[:10]}, "
            f"unexpected {sorted(set(client.received) - set(expected))[:10]}, "
            f"in order: {client.received == sorted(client.received)}")
    return {"clients": len(clients), "events": len(log),
            "deliveries": sum(len(c.received) for c in clients),
            "reconnects": sum(c.reconnects for c in clients), "lost": 0, "duplicates": 0}


def make_clients(users: list[dict[str, Any]], posts: list[int], count: int, rng: random.Random,
                 transports: tuple[str, ...] = ("websocket", "sse")) -> list[SoakClient]:
    """Clients with random users, transports and channel sets (always at least one channel)."""
    clients = []
    for n in range(count):
        user = rng.choice(users)
        names = [c for c in ("personal", "community", "system") if rng.random() < 0.6]
        names += [f"post:{p}" for p in posts if rng.random() < 0.4]
        names = names or ["personal"]
        keys = {f"user:{user['user']['id']}" if c == "personal" else c for c in names}
        clients.append(SoakClient(f"client{n}", user, transports[n % len(transports)], names, keys))
    return clients


def random_events(rng: random.Random, user_ids: list[int], posts: list[int]) -> Callable[[], tuple]:
    """A generator of (channel key, type, data) covering every durable type."""

    def one() -> tuple[str, str, dict[str, Any]]:
        uid, other = rng.choice(user_ids), rng.choice(user_ids)
        post = rng.choice(posts)
        return rng.choice([
            ("community", "NewCommunityPost", {"post_id": post, "author_id": uid, "author_name": "u",
                                               "content": "soak"}),
            (f"user:{uid}", "PostLiked", {"post_id": post, "user_id": other, "user_name": "o",
                                          "likes_count": 1}),
            (f"post:{post}", "NewComment", {"comment_id": 1, "post_id": post, "author_id": other,
                                             "author_name": "o", "content": "c"}),
            (f"user:{uid}", "NewComment", {"comment_id": 1, "post_id": post, "author_id": other,
                                           "author_name": "o", "content": "c"}),
            (f"user:{uid}", "NewFollower", {"follower_id": other, "follower_name": "o"}),
            (f"user:{uid}", "ExpiringItems", {"items": [], "days": 3}),
            (f"user:{uid}", "GoalAchieved", {"goal_id": 1, "title": "g"}),
            (f"user:{uid}", "RecipeGenerated", {"job_id": "j", "recipe_id": 1, "title": "r"}),
            ("system", "SystemNotification", {"title": "s", "message": "m", "level": "info"}),
            (f"user:{uid}", "SystemNotification", {"title": "s", "message": "m", "level": "info"}),
        ])

    return one


def run_soak(server: Any, clients_count: int, events_per_publisher: int, publishers: int = 4,
             disconnect_rate: float = 0.02, seed: int = 20261126, users_count: int = 6) -> dict[str, Any]:
    """One soak against an in-process ``LiveServer``: set up, run, drain, check; return a summary."""
    import time

    from itcook.realtime.events import Event
    from tests.support.rest import Api
    from tests.support.waiting import wait_for

    rng = random.Random(seed)
    api = Api(server)
    users = [api.register(f"soak{n}") for n in range(users_count)]
    posts = [api.call("POST", "/community/posts", users[0], expect=201,
                      json={"content": f"p{n}"}).json()["id"] for n in range(3)]
    rt = server.state
    clients = make_clients(users, posts, clients_count, rng)
    start_id = rt.history.bounds()[1]
    started = time.monotonic()
    readers = [gevent.spawn(run_client, c, [server], random.Random(seed + n), disconnect_rate)
               for n, c in enumerate(clients)]
    wait_for(lambda: len(rt.hub.connections) >= len(clients), timeout=60, what="every client connected")
    make_event = random_events(rng, [u["user"]["id"] for u in users], posts)

    def publisher(count: int, local_seed: int) -> None:
        local = random.Random(local_seed)
        with server.app.app_context():
            for _ in range(count):
                channel, event_type, data = make_event()
                rt.publish_event(Event(type=event_type, channel=channel, data=data))
                gevent.sleep(local.random() * 0.004)

    workers = [gevent.spawn(publisher, events_per_publisher, seed + 1000 + n) for n in range(publishers)]
    gevent.joinall(workers, raise_error=True)
    gevent.killall(readers, timeout=30)
    log = logged_events(server.app.config["SQLALCHEMY_DATABASE_URI"], start_id)
    assert len(log) == events_per_publisher * publishers, "an event is missing from the log"
    for client in clients:
        drain(client, server, [i for i, ch in log if ch in client.keys])
    summary = check(clients, log)
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["transports"] = {t: sum(c.transport == t for c in clients) for t in ("websocket", "sse")}
    return summary
