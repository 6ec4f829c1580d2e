"""Channel isolation as a property: for random users and random events published through the
real publish path, every client receives exactly the events of its channels — live and on a
resume with ``last_event_id`` — and never another user's personal event.

Four users stay connected for the whole test (two WebSockets, two SSE streams, different
channel sets). Each example publishes a random batch (personal events to random users,
community, system, ``post:<id>``), then one personal "fence" event per user: a client has
seen the whole batch once its fence arrives, so "nothing else arrived" needs no waiting.
Then every user resumes from before the batch on a new connection of the other transport,
and must get the same events again from the log, then its Recovery frame.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from itcook.extensions import realtime
from tests.support.fuzz import fuzz_settings
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect

PERSONAL_TYPES = ["PostLiked", "NewFollower", "GoalAchieved", "RecipeGenerated", "SystemNotification",
                  "ExpiringItems", "NewComment"]


class Reader:
    """One user's stream of either transport: ``frames()`` returns event frames up to a marker."""

    def __init__(self, server: Any, token: str, transport: str, channels: str, after: int | None = None):
        query = f"?channels={channels}" + (f"&last_event_id={after}" if after is not None else "")
        self.transport = transport
        if transport == "ws":
            self.ws = ws_connect(server, token, query=query)
        else:
            self.sse = SseStream(server, token, query=query)
            assert self.sse.status == 200

    def next(self) -> dict[str, Any]:
        if self.transport == "ws":
            return self.ws.recv(timeout=10)
        return self.sse.next()["frame"]

    def until(self, stop: Any, limit: int = 500) -> list[dict[str, Any]]:
        frames = []
        for _ in range(limit):
            frame = self.next()
            if stop(frame):
                return frames
            frames.append(frame)
        raise AssertionError("the stop frame never came")

    def close(self) -> None:
        (self.ws if self.transport == "ws" else self.sse).close()


def test_no_personal_event_reaches_another_user_live_or_replayed(live_server, api, bystander) -> None:
    app = live_server.app
    author = api.register("author")
    posts = [api.call("POST", "/community/posts", author, expect=201, json={"content": f"p{i}"}).json()["id"]
             for i in range(2)]
    users = [api.register(f"user{i}") for i in range(4)]
    ids = [u["user"]["id"] for u in users]
    # (transport, channels): different mixes, so that "not subscribed" is exercised too.
    shapes = [("ws", "personal,community,system"), ("ws", f"personal,community,post:{posts[0]}"),
              ("sse", f"personal,system,post:{posts[0]},post:{posts[1]}"), ("sse", "personal")]
    readers = [Reader(live_server, u["access_token"], t, c) for u, (t, c) in zip(users, shapes, strict=True)]
    wait_for(lambda: len(live_server.state.hub.connections) == 5, what="everyone to connect")

    def subscribed(index: int, channel: str) -> bool:
        wanted = shapes[index][1].split(",")
        if channel.startswith("user:"):
            return channel == f"user:{ids[index]}"
        return channel in wanted

    def publish(channel: str, kind: str, data: dict[str, Any]) -> int:
        with app.app_context():
            return realtime.publish(channel, kind, data, app=app).id  # type: ignore[return-value]

    targets = st.one_of(
        st.tuples(st.just("personal"), st.integers(0, len(users) - 1), st.sampled_from(PERSONAL_TYPES)),
        st.tuples(st.just("community"), st.none(), st.just("NewCommunityPost")),
        st.tuples(st.just("system"), st.none(), st.just("SystemNotification")),
        st.tuples(st.sampled_from([f"post:{p}" for p in posts] + ["post:999999"]), st.none(),
                  st.just("NewComment")),
    )
    batch_no = [0]

    @fuzz_settings(60)
    @given(batch=st.lists(targets, min_size=1, max_size=8))
    def prop(batch: list[tuple[str, int | None, str]]) -> None:
        batch_no[0] += 1
        published: list[tuple[int, str, int | None]] = []  # (id, internal channel, marker)
        before = None
        for n, (where, to, kind) in enumerate(batch):
            channel = f"user:{ids[to]}" if where == "personal" else where
            marker = batch_no[0] * 100 + n
            event_id = publish(channel, kind, {"marker": marker, "to": to})
            before = event_id - 1 if before is None else before
            published.append((event_id, channel, marker))
        fences = {}
        for index in range(len(users)):
            fences[index] = marker = -(batch_no[0] * 100 + index)
            published.append((publish(f"user:{ids[index]}", "SystemNotification",
                                      {"marker": marker, "to": index}), f"user:{ids[index]}", marker))

        for index, reader in enumerate(readers):
            expected = [m for _, c, m in published if subscribed(index, c) and m != fences[index]]
            frames = reader.until(lambda f, i=index: f.get("data", {}).get("marker") == fences[i])
            _check(index, frames, expected, shapes[index][1])
            # Resume from before the batch on the other transport: the log gives the same events.
            other = "sse" if shapes[index][0] == "ws" else "ws"
            replay = Reader(live_server, users[index]["access_token"], other, shapes[index][1], after=before)
            frames = replay.until(lambda f: f["type"] == "Recovery")
            _check(index, frames, expected + [fences[index]], shapes[index][1])
            replay.close()

    def _check(index: int, frames: list[dict[str, Any]], expected: list[int], channels: str) -> None:
        for frame in frames:
            if frame["channel"] == "personal":  # a personal frame is always the reader's own
                assert frame["data"]["to"] == index, f"user{index} got user{frame['data']['to']}'s event"
            else:
                assert frame["channel"] in channels.split(","), f"user{index} got {frame['channel']}"
        got = [f["data"]["marker"] for f in frames]
        assert got == expected, (index, got, expected)
        ids_seen = [f["id"] for f in frames]
        assert ids_seen == sorted(set(ids_seen)), "ids out of order or repeated"

    prop()
    for reader in readers:
        reader.close()
    bystander.assert_unaffected()
