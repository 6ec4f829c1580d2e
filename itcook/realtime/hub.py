"""Connections, channel subscriptions and the fan-out loop of one process — no Flask imports."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable
from typing import Any

from itcook.realtime.connection import SSE, WS, Connection
from itcook.realtime.events import (
    CLOSE_REASONS,
    CLOSE_SLOW_CONSUMER,
    Encoded,
    Event,
    control_frame,
    wire_channel,
)
from itcook.realtime.recent import RecentEvents
from itcook.realtime.timeline import Timeline

log = logging.getLogger(__name__)

#: Days of per-type event counts kept ("event analytics" of the status page).
DAYS_KEPT = 31


class Stats:
    """Counters of one process; ``/stats`` and ``/metrics`` read them."""

    def __init__(self) -> None:
        self.day = dt.datetime.now(dt.UTC).date()
        self.events_by_type: Counter[str] = Counter()
        self.events_today = 0
        self.deliveries_today = 0
        self.deliveries_total = 0
        self.disconnects: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.handshake_failures: Counter[str] = Counter()
        self.connections_total: Counter[str] = Counter()
        self.replays: Counter[str] = Counter()
        self.replayed_events = 0
        self.replays_from_memory = 0  # resumes answered by the window of recent events, not the log
        self.held_events = 0  # live events held for connections that were replaying
        self.deliveries_by_type: Counter[str] = Counter()
        # "YYYY-MM-DD/Type" -> events published that UTC day: flat, so processes' counts add up.
        self.events_by_day: Counter[str] = Counter()
        self.timeline = Timeline()  # events and deliveries per 5 s, for the status page's charts

    def _roll_day(self) -> None:
        today = dt.datetime.now(dt.UTC).date()
        if today != self.day:
            self.day, self.events_today, self.deliveries_today = today, 0, 0
            oldest = (today - dt.timedelta(days=DAYS_KEPT - 1)).isoformat()
            for key in [k for k in self.events_by_day if k[:10] < oldest]:
                del self.events_by_day[key]

    def count_event(self, event_type: str, deliveries: int) -> None:
        """Count one published event and the frames it was written as."""
        self._roll_day()
        self.events_by_type[event_type] += 1
        self.events_today += 1
        self.deliveries_today += deliveries
        self.deliveries_total += deliveries
        self.deliveries_by_type[event_type] += deliveries
        self.events_by_day[f"{self.day.isoformat()}/{event_type}"] += 1
        self.timeline.add(1, deliveries)


def _plain_run(events: list[Event]) -> bool:
    """Durable events in strictly increasing id order, for everyone: one write per socket."""
    previous = 0
    for event in events:
        if event.id is None or event.id <= previous or event.exclude_user is not None:
            return False
        previous = event.id
    return True


def _discard(index: dict[str, set[Connection]], channel: str, conn: Connection) -> None:
    """Take ``conn`` out of ``index[channel]``; an emptied entry goes."""
    members = index.get(channel)
    if members is not None:
        members.discard(conn)
        if not members:
            del index[channel]


def _kind(channel: str) -> str:
    """How statistics group a channel: every ``user:<id>`` is "personal"."""
    return "personal" if channel.startswith("user:") else channel


class Hub:
    """Who is connected and to which channels; fan-out writes each event's bytes once per socket."""

    def __init__(self, replay_buffer_limit: int = 10_000, recent: RecentEvents | None = None) -> None:
        self.replay_buffer_limit = replay_buffer_limit
        # The newest durable events fanned out, encoded: most resumes are served from here.
        self.recent = recent if recent is not None else RecentEvents(0)
        self.connections: set[Connection] = set()
        # WebSocket connections, the longest silent first (each received frame moves its
        # connection to the end): the idle sweep reads only the front, not every connection
        # every tick (19k connections took 9 ms per sweep, holding up every greenlet).
        self.quiet: OrderedDict[Connection, None] = OrderedDict()
        self.by_user: dict[int, set[Connection]] = defaultdict(set)
        self.channels: dict[str, set[Connection]] = {}
        # Kept as members come and go, so that a stats report reads two small counters instead
        # of every connection and channel (19k users: 8 ms with the loop stalled, every report).
        self.by_transport: Counter[str] = Counter()
        self.live_by_kind: Counter[str] = Counter()  # live subscriptions, personal channels as one
        # Connections replaying the log, by the channels they will join when they catch up.
        self.replaying: dict[str, set[Connection]] = {}
        self.stats = Stats()
        # user id -> streams admitted but not yet added (see reserve): they count for the cap.
        self.admitting: Counter[int] = Counter()
        # Counts revocations: an authorization that saw it move may predate one, and is redone.
        self.revocations = 0
        # user id -> True (first connection here) / False (last one gone), for the presence report.
        self.presence_changes: dict[int, bool] = {}
        # Users whose count here (connections + admissions) went down since the last report to
        # the broker; a rise is reported at once, by the admission (RealtimeState.reserve_connection).
        self.count_changes: set[int] = set()

    # -- membership -------------------------------------------------------------------------
    def add(self, conn: Connection) -> None:
        """Register a connection (not yet subscribed to anything)."""
        self.connections.add(conn)
        self.by_transport[conn.transport] += 1
        if conn.transport == WS:  # SSE streams cannot speak: they are never idle-closed
            # The newest entry, and (made just before, without yielding) the newest last_seen:
            # ``quiet`` stays in time order. Were a connection added late, it would only be
            # closed late, by as much.
            self.quiet[conn] = None
        if not self.by_user.get(conn.user_id):
            self.presence_changes[conn.user_id] = True
        self.by_user[conn.user_id].add(conn)
        self.stats.connections_total[conn.transport] += 1

    def remove(self, conn: Connection, reason: str) -> None:
        """Forget a connection and all its subscriptions; idempotent."""
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self.by_transport[conn.transport] -= 1
        self.quiet.pop(conn, None)
        self._leave_replay(conn)
        for channel in list(conn.channels):
            self.unsubscribe(conn, channel)
        user_conns = self.by_user.get(conn.user_id)
        if user_conns is not None:
            user_conns.discard(conn)
            if not user_conns:
                del self.by_user[conn.user_id]
                self.presence_changes[conn.user_id] = False
            self.count_changes.add(conn.user_id)
        self.stats.disconnects[reason] += 1

    def heard_from(self, conn: Connection, now: float) -> None:
        """Note that ``conn`` sent something at ``now`` (monotonic): its idle time starts over."""
        conn.last_seen = now
        if conn in self.quiet:
            self.quiet.move_to_end(conn)

    def idle(self, now: float, timeout: float) -> list[Connection]:
        """The WebSocket connections silent for more than ``timeout`` seconds at ``now``."""
        silent = []
        for conn in self.quiet:  # oldest first: stop at the first one still in time
            if now - conn.last_seen <= timeout:
                break
            silent.append(conn)
        return silent

    def user_connection_count(self, user_id: int) -> int:
        """How many live connections ``user_id`` holds in this process."""
        return len(self.by_user.get(user_id, ()))

    def reserve(self, user_id: int, cap: int) -> bool:
        """Hold one of ``user_id``'s ``cap`` stream slots while a stream is being admitted.

        Admission asks the database and writes the handshake (either may yield) before the
        stream reaches ``add``: without a reservation, simultaneous handshakes of one user
        would all see the same count and all pass the cap.
        """
        if self.user_connection_count(user_id) + self.admitting[user_id] >= cap:
            return False
        self.admitting[user_id] += 1
        return True

    def release(self, user_id: int) -> None:
        """Give back a slot ``reserve`` held (the stream is joining, or its admission failed)."""
        left = self.admitting[user_id] - 1
        if left > 0:
            self.admitting[user_id] = left
        else:
            self.admitting.pop(user_id, None)
        self.count_changes.add(user_id)  # unless the stream joins next: then it is one more report

    def subscribe(self, conn: Connection, channel: str) -> None:
        """Add ``conn`` to ``channel`` (an internal key such as ``user:7``); not once removed."""
        if conn not in self.connections:  # closed while its admission yielded: nothing to join
            return
        if conn.replay_buffer is not None:
            # Still catching up (a resume, or a resync after a broker outage): live events of
            # the channel wait with the others, or they would overtake the replay.
            self.replaying.setdefault(channel, set()).add(conn)
        else:
            self._join_live(conn, channel)
        conn.channels.add(channel)

    def unsubscribe(self, conn: Connection, channel: str) -> None:
        """Remove ``conn`` from ``channel``; an emptied channel is dropped."""
        conn.channels.discard(channel)
        _discard(self.replaying, channel, conn)
        self._leave_live(conn, channel)

    def revoke(self, channel: str, user_id: int | None) -> int:
        """Take ``user_id``'s connections (everyone's if None) off ``channel``, live or replaying."""
        self.revocations += 1
        conns = self.connections if user_id is None else self.by_user.get(user_id, ())
        dropped = [conn for conn in tuple(conns) if channel in conn.channels]
        for conn in dropped:
            self.drop(conn, channel)
        return len(dropped)

    def drop(self, conn: Connection, channel: str) -> None:
        """Unsubscribe ``conn`` from ``channel`` and tell it why; its held events of the channel
        are not written either (``write_missing`` writes only the channels a connection has)."""
        self.unsubscribe(conn, channel)
        conn.deliver(control_frame("Unsubscribed", {"channels": [wire_channel(channel)],
                                                    "reason": "access_revoked"},
                                   sse=conn.transport == SSE))

    # -- replay -----------------------------------------------------------------------------
    def begin_replay(self, conn: Connection, channels: list[str]) -> None:
        """Hold live events of ``channels`` for ``conn`` while it reads the log."""
        conn.replay_buffer = []
        if conn not in self.connections:  # already closed (its first write failed): join nothing
            return
        for channel in channels:
            self.replaying.setdefault(channel, set()).add(conn)
            conn.channels.add(channel)

    def pause(self, conn: Connection) -> None:
        """Take a live connection off its channels and hold its events (for a resync)."""
        for channel in conn.channels:
            self._leave_live(conn, channel)
        self.begin_replay(conn, list(conn.channels))

    def end_replay(self, conn: Connection) -> None:
        """Write the held events the log did not already give, then join the channels live.

        Runs without yielding, so no event can fall between the held ones and the live stream.
        """
        held, conn.replay_buffer = conn.replay_buffer or [], None
        self._leave_replay(conn)
        self.write_missing(conn, held)  # minus what the replay already wrote
        for channel in conn.channels:
            self._join_live(conn, channel)

    def _join_live(self, conn: Connection, channel: str) -> None:
        members = self.channels.setdefault(channel, set())
        if conn not in members:
            members.add(conn)
            self.live_by_kind[_kind(channel)] += 1

    def _leave_live(self, conn: Connection, channel: str) -> None:
        members = self.channels.get(channel)
        if members is not None and conn in members:
            _discard(self.channels, channel, conn)
            kind = _kind(channel)
            self.live_by_kind[kind] -= 1
            if not self.live_by_kind[kind]:  # post:<id> kinds come and go: no zeros kept
                del self.live_by_kind[kind]

    def _leave_replay(self, conn: Connection) -> None:
        for channel in conn.channels:
            _discard(self.replaying, channel, conn)

    # -- fan-out ----------------------------------------------------------------------------
    @staticmethod
    def write_missing(conn: Connection, items: Iterable[Encoded]) -> list[Encoded]:
        """Write, as one chunk, those of ``items`` that ``conn`` lacks; return the ones written.

        Lacks: on a channel it has, and (durable events) an id above the last it was given —
        durable ids only go up, so what a replay wrote is not written again by the live path
        or the held events, nor the other way round. One system call for all of them.
        """
        channels, last_id = conn.channels, conn.last_event_id
        websocket = conn.transport == WS
        written: list[Encoded] = []
        for item in items:
            event = item.event
            if event.channel not in channels:
                continue  # revoked or unsubscribed while it waited
            if event.id is not None:
                if event.id <= last_id:
                    continue
                last_id = event.id
            written.append(item)
        conn.last_event_id = last_id
        if written and not conn.deliver(b"".join(i.ws if websocket else i.sse for i in written)):
            return []
        return written

    def fanout_run(self, events: list[Event]) -> int:
        """Fan out consecutive events of one channel; each subscriber gets them in one write.

        Events queue up behind each other in a burst; writing each socket's share at once turns
        ``len(events)`` system calls per socket into one. The bytes on the wire are the same
        frames in the same order. Anything but plain durable events goes one by one.
        """
        if len(events) > 1 and _plain_run(events):
            return self._fanout(events)
        delivered = 0
        for event in events:
            try:
                delivered += self._fanout([event])
            except Exception:  # one bad event must not stop delivery of the next
                log.exception("fan-out of %s failed", event.type)
        return delivered

    def _fanout(self, events: list[Event]) -> int:
        """Fan out one event, or a plain run (``_plain_run``) of one channel; return deliveries."""
        channel = events[0].channel
        members = self.channels.get(channel)
        waiting = self.replaying.get(channel)
        encoded = [Encoded(event) for event in events] if members or waiting else []
        whole = 0  # connections that got every event in one write
        piecemeal: Counter[int | None] = Counter()  # by id: to those a replay had given a part
        if encoded:
            exclude = events[0].exclude_user  # None in a run of several
            if members:
                whole = self._write(members, encoded, exclude, piecemeal)
            if waiting:
                self._hold(waiting, encoded, exclude)
        for index, event in enumerate(events):
            if event.id is not None:
                self.recent.add(encoded[index] if encoded else event)  # unencoded: on demand
            self.stats.count_event(event.type, whole + piecemeal[event.id])
        return whole * len(events) + sum(piecemeal.values())

    def _write(self, members: set[Connection], items: list[Encoded], exclude: int | None,
               piecemeal: Counter[int | None]) -> int:
        """Write ``items`` to each of ``members`` (but ``exclude``'s) in one write; return how
        many got all of them. The hot path: one pass over every subscriber of the channel.

        A durable run goes whole to a connection whose last id is below its first; one that a
        replay already gave some of it gets what it lacks (``write_missing``), counted by id in
        ``piecemeal``. Events without an id go to everyone.
        """
        first_id, last_id = items[0].event.id, items[-1].event.id
        ws = items[0].ws if len(items) == 1 else b"".join(item.ws for item in items)
        sse = b""  # joined on first use: most channels have no SSE stream
        whole = 0
        # A copy: a slow consumer closed mid-loop leaves the set. ``exclude is not None`` first:
        # comparing an int with None costs more than the test (10k sockets: ~0.1 ms per event).
        for conn in tuple(members):
            if exclude is not None and conn.user_id == exclude:
                continue
            if first_id is not None:
                if conn.last_event_id >= first_id:
                    piecemeal.update(item.event.id for item in self.write_missing(conn, items))
                    continue
                conn.last_event_id = last_id
            if conn.transport == WS:
                data = ws
            else:
                data = sse = sse or b"".join(item.sse for item in items)
            if conn.deliver(data):
                whole += 1
        return whole

    def _hold(self, waiting: set[Connection], items: list[Encoded], exclude: int | None) -> None:
        """Queue ``items`` for each replaying connection of ``waiting`` (but ``exclude``'s); one
        whose queue outgrows the limit is closed as a slow consumer."""
        for conn in tuple(waiting):
            if conn.user_id != exclude and conn.replay_buffer is not None:
                conn.replay_buffer.extend(items)
                self.stats.held_events += len(items)
                if len(conn.replay_buffer) > self.replay_buffer_limit:
                    conn.abort(CLOSE_SLOW_CONSUMER)

    def user_connections(self, user_id: int) -> list[Connection]:
        """The live connections of ``user_id`` in this process."""
        return list(self.by_user.get(user_id, ()))

    # -- stats ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """This process's numbers, in the shape ``/stats`` merges across processes."""
        by_transport = self.by_transport
        stats = self.stats
        stats._roll_day()
        return {
            "connected_clients": len(self.connections),
            "connections_by_transport": {WS: by_transport.get(WS, 0), SSE: by_transport.get(SSE, 0)},
            "connected_users": len(self.by_user),
            "subscribers_by_channel": dict(self.live_by_kind),
            "events_published_today": stats.events_today,
            "events_sent_today": stats.deliveries_today,
            "deliveries_total": stats.deliveries_total,
            "events_by_type": dict(stats.events_by_type),
            "disconnects_by_reason": dict(stats.disconnects),
            "errors_by_code": dict(stats.errors),
            "handshake_failures_by_reason": dict(stats.handshake_failures),
            "connections_total": dict(stats.connections_total),
            "replays": dict(stats.replays),
            "replayed_events": stats.replayed_events,
            "replays_from_memory": stats.replays_from_memory,
            "slow_consumer_drops": stats.disconnects.get(CLOSE_REASONS[4002], 0),
            "deliveries_by_type": dict(stats.deliveries_by_type),
            "events_by_day": dict(stats.events_by_day),
            **{f"{name}_per_interval": counts for name, counts in stats.timeline.snapshot().items()},
        }
