"""Resume after a reconnect: replay what a client missed on its channels, then go live seamlessly.

The connection's channels are held by the hub while the missed events are written in bounded
batches, from the window of recent events (``recent.py``) when it covers them, else from the
log; live events published meanwhile wait in the connection's replay buffer. ``hub.end_replay`` then
writes the held events the log did not already give (by id) and joins the channels, without
yielding in between, so there is no gap and no duplicate at the seam.
"""

from __future__ import annotations

import gevent

from itcook.realtime.connection import SSE, Connection
from itcook.realtime.events import CLOSE_INTERNAL, CLOSE_SLOW_CONSUMER, Encoded, control_frame
from itcook.realtime.hub import Hub
from itcook.realtime.state import RealtimeState

#: Seconds a replaying connection may take to drain a batch before it counts as a slow consumer.
DRAIN_TIMEOUT = 10.0


def is_recoverable(after_id: int, oldest: int, newest: int) -> bool:
    """Whether every event after ``after_id`` is still in a log holding ids ``oldest..newest``."""
    if after_id > newest:
        return False  # an id this log never gave (another database, or a reset)
    if newest == 0:
        return True  # nothing was ever logged, so nothing was missed
    return after_id >= oldest - 1  # otherwise events right after it were pruned


def join(state: RealtimeState, conn: Connection, channels: list[str], after_id: int | None,
         dropped: dict[str, list[str]] | None = None) -> None:
    """Subscribe ``conn`` to ``channels``, first replaying the log after ``after_id`` if given.

    ``dropped`` (reason -> names) are channels the admission did not grant: the stream opens
    by saying so, so that the client stops asking for them.
    """
    hub = state.hub
    for reason, names in (dropped or {}).items():
        conn.deliver(control_frame("Unsubscribed", {"channels": names, "reason": reason},
                                   sse=conn.transport == SSE))
    # Live events are held from here on: the access check below may yield (a database round
    # trip), and an event published meanwhile must neither be lost nor jump the replay.
    hub.begin_replay(conn, channels)
    # Access may have been revoked since the admission's check (``conn`` is in the hub, so a
    # revocation from here on finds it): drop what is no longer allowed, held events too.
    kept = state.allowed_channels(conn.user_id, channels)
    for channel in channels:
        if channel not in kept and channel in conn.channels:
            hub.drop(conn, channel)
    if after_id is None:
        hub.end_replay(conn)  # live from here: the held events, then the channels
        return
    conn.last_event_id = after_id
    catch_up(state, conn)


def catch_up(state: RealtimeState, conn: Connection) -> None:
    """Replay what ``conn`` missed after ``conn.last_event_id`` on its (held) channels, then go live.

    From the window of recent events when it covers the gap (no query, nothing to encode),
    otherwise from the log.
    """
    after_id = conn.last_event_id
    stats = state.hub.stats
    resyncs = state.resyncs
    recent = state.hub.recent.after(after_id)
    if recent is not None:
        stats.replays_from_memory += 1
        replayed, recovered = _replay_recent(state, conn, recent), True
    else:
        history = state.history
        oldest, newest = history.bounds()
        replayed = 0
        recovered = is_recoverable(after_id, oldest, newest)
        if recovered:
            replayed = _replay_log(state, conn, after_id, newest)
            # A prune that ran while we read could have taken rows we had not reached yet.
            recovered = is_recoverable(after_id, history.bounds()[0], max(newest, conn.last_event_id))
    for _ in range(3):
        if state.resyncs == resyncs or conn.closed or not recovered:
            break
        # The broker was down while we replayed: what was published meanwhile reached neither
        # the window nor the held events (the resync skips replaying connections). Read the log.
        resyncs = state.resyncs
        replayed += _replay_log(state, conn, conn.last_event_id, state.history.newest())
    stats.replays["recovered" if recovered else "incomplete"] += 1
    stats.replayed_events += replayed
    if conn.closed:
        return
    conn.deliver(control_frame("Recovery", {"recovered": recovered, "last_event_id": after_id,
                                            "replayed": replayed}, sse=conn.transport == SSE))
    state.hub.end_replay(conn)


def catch_up_all(state: RealtimeState, conns: list[Connection]) -> None:
    """Catch every paused connection up, one after another (after a broker outage)."""
    for conn in conns:
        if conn.closed:
            continue
        try:
            # A revocation published during the outage never arrived: check access again.
            kept = state.allowed_channels(conn.user_id, sorted(conn.channels))
            for channel in conn.channels - set(kept):
                state.hub.drop(conn, channel)
            catch_up(state, conn)
        except Exception:
            # The connection cannot be brought in sync: close it, it resumes by itself.
            conn.abort(CLOSE_INTERNAL)


def _replay_recent(state: RealtimeState, conn: Connection, events: list[Encoded]) -> int:
    batch_size = state.config["replay_batch"]
    replayed = 0
    for start in range(0, len(events), batch_size):
        written = _write_batch(conn, events[start:start + batch_size])
        if written is None:
            break
        replayed += written
        if start + batch_size < len(events):
            gevent.sleep(0)  # a long backlog must not hold other clients up
    return replayed


def _replay_log(state: RealtimeState, conn: Connection, cursor: int, newest: int) -> int:
    """Replay the log after ``cursor`` up to what this process has dispatched (or given up).

    Not beyond: an id above the sequencer's frontier may still be committing, and a client
    given a higher id first would never receive it. The frontier is awaited up to ``newest``
    (bounded); whatever is above it reaches the held events, in order.
    """
    batch_size = state.config["replay_batch"]
    upto = state.sequencer.reach(newest)
    replayed = 0
    while not conn.closed and conn.channels:
        # Read per batch: a channel revoked meanwhile (hub.drop) is neither read nor written.
        batch = state.history.replay(sorted(conn.channels), cursor, batch_size, upto)
        written = _write_batch(conn, [Encoded(event) for event in batch])
        if written is None:
            break
        replayed += written
        if len(batch) < batch_size:
            break
        cursor = batch[-1].id or cursor
        gevent.sleep(0)  # a long backlog must not hold other clients up
    return replayed


def _write_batch(conn: Connection, batch: list[Encoded]) -> int | None:
    """Write what ``conn`` lacks of ``batch`` in one write; None once ``conn`` is gone.

    A channel revoked while we read (``hub.drop``) is skipped; past half its send buffer the
    replay waits for the client to read, and closes it as a slow consumer if it does not.
    """
    written = len(Hub.write_missing(conn, batch))
    if conn.closed:
        return None
    if conn.backlog_bytes > conn.max_bytes // 2 and not conn.flush(DRAIN_TIMEOUT):
        conn.abort(CLOSE_SLOW_CONSUMER)
        return None
    return written
