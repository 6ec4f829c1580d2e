"""Every event type reaches exactly its recipients; bursts arrive complete and in order; slow
consumers are closed without holding anyone else back."""

from __future__ import annotations

import datetime as dt
import json

import gevent
import pytest

from itcook.realtime.events import Event
from tests.support.frames import raw_handshake
from tests.support.rest import Api
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect

SENTINEL = "end-of-test"


def _collect(client, limit: int = 200) -> list[dict]:
    """Every frame up to the sentinel SystemNotification, which is not included."""
    frames = []
    for _ in range(limit):
        frame = client.recv(timeout=10)
        if frame["type"] == "SystemNotification" and frame["data"]["title"] == SENTINEL:
            return frames
        frames.append(frame)
    raise AssertionError("no sentinel")


def test_each_event_type_reaches_exactly_its_recipients(live_server) -> None:
    api = Api(live_server)
    anna, bob, carol = (api.register(n) for n in ("anna", "bob", "carol"))
    root = api.register_admin()
    clients = {name: ws_connect(live_server, user["access_token"])
               for name, user in (("anna", anna), ("bob", bob), ("carol", carol), ("root", root))}

    post = api.call("POST", "/community/posts", anna, expect=201, json={"content": "Borscht"}).json()
    pid = post["id"]
    clients["carol"].subscribe(f"post:{pid}")
    api.call("POST", f"/community/posts/{pid}/like", bob, expect=201)
    api.call("POST", f"/community/posts/{pid}/like", anna, expect=201)  # own like: nobody told
    api.call("POST", f"/community/posts/{pid}/comments", bob, expect=201, json={"content": "Yum"})
    api.call("POST", f"/community/users/{anna['user']['id']}/follow", bob, expect=201)
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    api.call("POST", "/fridge/items", anna, expect=201, json={"name": "Milk", "expires_on": tomorrow})
    api.call("POST", "/fridge/notify-expiring?days=3", anna, expect=200)
    goal = api.call("POST", "/goals", anna, expect=201, json={"title": "Cook 2", "target_value": 2}).json()
    api.call("POST", f"/goals/{goal['id']}/progress", anna, expect=200, json={"value": 2})
    job = api.call("POST", "/recipes/generate", anna, expect=202,
                   json={"ingredients": ["egg", "milk"]}).json()
    api.call("POST", "/admin/notifications", root, expect=201,
             json={"title": "Maintenance", "message": "at noon", "level": "warning"})
    api.call("POST", "/admin/notifications", root, expect=201,
             json={"title": "Hi Bob", "message": "just you", "user_id": bob["user"]["id"]})
    api.call("POST", "/admin/notifications", root, expect=201, json={"title": SENTINEL, "message": "."})

    frames = {name: _collect(client) for name, client in clients.items()}
    # The recipe job finishes off the request, so its event may come before or after the sentinel.
    recipes = [f for f in frames["anna"] if f["type"] == "RecipeGenerated"]
    if not recipes:
        recipes = [clients["anna"].recv_type("RecipeGenerated", timeout=10)]
    got = {name: [(f["type"], f["channel"]) for f in fs if f["type"] not in ("RecipeGenerated", "PostStats")]
           for name, fs in frames.items()}
    # The counters go to the post's channel alone, coalesced: the first at once, the next later.
    stats = {name: {f["channel"] for f in fs if f["type"] == "PostStats"} for name, fs in frames.items()}
    assert stats == {"anna": set(), "bob": set(), "carol": {f"post:{pid}"}, "root": set()}
    assert len(recipes) == 1 and recipes[0]["channel"] == "personal"
    recipe_frame = recipes[0]
    everyone = [("NewCommunityPost", "community")]
    broadcast = [("SystemNotification", "system")]
    assert got["anna"] == everyone + [
        ("PostLiked", "personal"), ("NewComment", "personal"), ("NewFollower", "personal"),
        ("ExpiringItems", "personal"), ("GoalAchieved", "personal")] + broadcast
    assert got["bob"] == everyone + broadcast + [("SystemNotification", "personal")]
    assert got["carol"] == everyone + [("NewComment", f"post:{pid}")] + broadcast
    assert got["root"] == everyone + broadcast
    assert recipe_frame["data"]["job_id"] == job["job_id"] and recipe_frame["data"]["recipe_id"] > 0

    # The data of each frame is SPEC §3's.
    anna_frames = {f["type"]: f for f in _collect_again(api, root, clients["anna"])}
    assert anna_frames["SystemNotification"]["data"] == {"title": "again", "message": "m", "level": "info"}
    for client in clients.values():
        client.close()


def _collect_again(api, root, client) -> list[dict]:
    api.call("POST", "/admin/notifications", root, expect=201, json={"title": "again", "message": "m"})
    api.call("POST", "/admin/notifications", root, expect=201, json={"title": SENTINEL, "message": "."})
    return _collect(client)


def test_frames_carry_spec_data(live_server) -> None:
    api = Api(live_server)
    anna, bob = api.register("anna"), api.register("bob")
    client = ws_connect(live_server, anna["access_token"])
    post = api.call("POST", "/community/posts", anna, expect=201, json={"content": "Pie"}).json()
    new_post = client.recv()
    assert new_post["data"] == {"post_id": post["id"], "author_id": anna["user"]["id"],
                                "author_name": "anna", "content": "Pie"}
    assert new_post["ts"].endswith("Z")
    api.call("POST", f"/community/posts/{post['id']}/like", bob, expect=201)
    assert client.recv()["data"] == {"post_id": post["id"], "user_id": bob["user"]["id"],
                                     "user_name": "bob", "likes_count": 1}
    api.call("POST", f"/community/posts/{post['id']}/comments", bob, expect=201, json={"content": "Nice"})
    comment = client.recv()["data"]
    assert comment["post_id"] == post["id"] and comment["author_id"] == bob["user"]["id"]
    assert comment["author_name"] == "bob" and comment["content"] == "Nice" and comment["comment_id"] > 0
    api.call("POST", f"/community/users/{anna['user']['id']}/follow", bob, expect=201)
    assert client.recv()["data"] == {"follower_id": bob["user"]["id"], "follower_name": "bob"}
    client.close()


@pytest.mark.realtime_config(REALTIME_MAX_CONNECTIONS_PER_USER=50)
def test_two_hundred_clients_receive_a_burst_complete_and_in_order(live_server) -> None:
    api = Api(live_server)
    users = [api.register(f"user{i}") for i in range(4)]
    clients = [ws_connect(live_server, users[i % 4]["access_token"]) for i in range(200)]
    wait_for(lambda: len(live_server.state.hub.connections) == 200, what="200 connections")
    rt = live_server.app.extensions["realtime"]
    burst = 50

    def publish_all() -> None:
        with live_server.app.app_context():
            for n in range(burst):
                rt.publish_event(_event(n))

    publisher = gevent.spawn(publish_all)
    results = []
    for client in clients:
        frames = [client.recv(timeout=10) for _ in range(burst)]
        results.append([f["data"]["n"] for f in frames])
        ids = [f["id"] for f in frames]
        assert ids == sorted(ids) and len(set(ids)) == burst
    publisher.join(timeout=10)
    assert all(r == list(range(burst)) for r in results)
    for client in clients:
        client.close()
    wait_for(lambda: not live_server.state.hub.connections, what="hub to empty")


def test_a_burst_is_written_in_runs_and_each_client_gets_its_events_in_order(live_server) -> None:
    """Events that queue up go out as runs (one write per socket); across channels, transports,
    and a client that joins mid-burst from the log, every client sees exactly its events in id
    order, once."""
    api = Api(live_server)
    anna, bob = api.register("anna"), api.register("bob")
    rt = live_server.state
    runs: list[int] = []
    fanout_run = rt.hub.fanout_run
    published_all = gevent.event.Event()

    def record(events):  # observe the run lengths; the real method does the work
        if not runs:
            # Hold the dispatcher at its first event until the burst is logged: a database whose
            # driver yields (PostgreSQL) would otherwise let it take the events one at a time.
            published_all.wait(30)
        runs.append(len(events))
        return fanout_run(events)

    rt.hub.fanout_run = record
    everything = ws_connect(live_server, anna["access_token"])  # personal, community, system
    system_only = ws_connect(live_server, bob["access_token"], query="?channels=system")
    sse = SseStream(live_server, anna["access_token"], query="?channels=community")
    wait_for(lambda: len(rt.hub.connections) == 3, what="three streams")
    channels = ["system"] * 5 + ["community"] * 3 + [f"user:{anna['user']['id']}"] * 2
    published: list[tuple[int, str]] = []
    with live_server.app.app_context():
        first = rt.publish_event(_event(-1))
        for n in range(300):  # all of these queue up for the dispatcher (held above)
            channel = channels[(n * 7) % len(channels)]
            event = rt.publish_event(Event(type="SystemNotification", channel=channel,
                                           data={"title": "b", "message": "m", "level": "info", "n": n}))
            published.append((event.id, channel))
    published_all.set()
    # A client that resumes from the first event while the burst is being written.
    late = ws_connect(live_server, bob["access_token"], query=f"?channels=system&last_event_id={first.id}")

    def ids_of(client, count: int) -> list[int]:
        frames = [client.recv(timeout=10) for _ in range(count)]
        return [f["id"] for f in frames if f["type"] != "Recovery"]

    system = [i for i, c in published if c == "system"]
    community = [i for i, c in published if c == "community"]
    assert ids_of(everything, 301) == [first.id] + [i for i, _ in published]
    assert ids_of(system_only, 1 + len(system)) == [first.id] + system
    assert ids_of(late, len(system) + 1) == system
    assert [sse.next()["frame"]["id"] for _ in community] == community
    assert max(runs) > 1, "the burst was not written in runs"
    for client in (everything, system_only, late, sse):
        client.close()


def _event(n: int):
    from itcook.realtime.events import Event

    return Event(type="SystemNotification", channel="system",
                 data={"title": "burst", "message": "x" * 100, "level": "info", "n": n})


@pytest.mark.realtime_config(REALTIME_SEND_BUFFER_BYTES=64 * 1024, REALTIME_SEND_BUFFER_FRAMES=10_000)
def test_slow_consumer_is_closed_while_others_get_everything(live_server) -> None:
    api = Api(live_server)
    fast_user, slow_user = api.register("fast"), api.register("slow")
    fast = [ws_connect(live_server, fast_user["access_token"]) for _ in range(5)]
    # A client that never reads, with a tiny receive buffer: the server's writes back up.
    slow, head = raw_handshake(live_server.port, rcvbuf=4096,
                               headers={"Authorization": f"Bearer {slow_user['access_token']}"})
    assert head.startswith("HTTP/1.1 101")
    wait_for(lambda: len(live_server.state.hub.connections) == 6, what="six connections")
    hub = live_server.state.hub
    rt = live_server.app.extensions["realtime"]
    received: list[list[int]] = [[] for _ in fast]

    def read(index: int) -> None:
        while True:
            frame = fast[index].recv(timeout=10)
            if frame["data"]["n"] < 0:
                return
            received[index].append(frame["data"]["n"])

    readers = [gevent.spawn(read, i) for i in range(len(fast))]
    published = 0
    with live_server.app.app_context():
        # Kernel buffers absorb a few MB first; publish until the backlog limit trips (bounded).
        while not hub.stats.disconnects["slow_consumer"] and published < 3000:
            event = _event(published)
            event.data["message"] = "y" * 20_000
            rt.publish_event(event)
            published += 1
            if published % 20 == 0:
                gevent.sleep(0)  # let the dispatcher and the readers run
        rt.publish_event(_event(-1))
    gevent.joinall(readers, timeout=30, raise_error=True)
    assert hub.stats.disconnects["slow_consumer"] == 1, "the slow client was never closed"
    assert all(r == list(range(published)) for r in received)
    assert slow_user["user"]["id"] not in hub.by_user
    assert all(c.backlog_bytes <= 64 * 1024 for c in hub.connections)
    slow.close()
    for client in fast:
        client.close()


def test_stats_report_real_values(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    client = ws_connect(live_server, anna["access_token"])
    api.call("POST", "/community/posts", anna, expect=201, json={"content": "Stats"})
    client.recv()
    stats = api.call("GET", "/realtime/stats", anna, expect=200).json()
    assert stats["connected_clients"] == 1
    assert stats["connections_by_transport"] == {"websocket": 1, "sse": 0}
    assert stats["subscribers_by_channel"] == {"personal": 1, "community": 1, "system": 1}
    assert stats["events_by_type"] == {"NewCommunityPost": 1}
    assert stats["events_sent_today"] == 1 and stats["events_published_today"] == 1
    assert stats["uptime_seconds"] >= 0 and stats["uptime"].endswith("s")
    assert api.call("GET", "/realtime/stats").status_code == 401
    client.close()
    wait_for(lambda: not live_server.state.hub.connections, what="hub to empty")
    stats = api.call("GET", "/realtime/stats", anna, expect=200).json()
    assert stats["connected_clients"] == 0 and stats["disconnects_by_reason"] == {"normal": 1}
    json.dumps(stats)
