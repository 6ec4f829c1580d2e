"""The sequencer: durable events leave in id order, each once; holes are read from a real log.

The log is a real ``realtime_events`` table on SQLite; a row inserted with its id is a commit,
an id never inserted is a rolled-back transaction, and ``offer`` is the broker's doorbell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from sqlalchemy import MetaData, create_engine, insert

from itcook.realtime.events import Event
from itcook.realtime.history import History, define_tables
from itcook.realtime.sequencer import Sequencer
from tests.support.waiting import wait_for


class Log:
    """A real event log on SQLite, and a sequencer reading it whose output is recorded."""

    def __init__(self, path: Any, gap_wait: float) -> None:
        self.engine = create_engine(f"sqlite:///{path}/log.db")
        metadata = MetaData()
        self.table = define_tables(metadata)
        metadata.create_all(self.engine)
        self.history = History(self.engine, self.table)
        self.reads: list[tuple[int, int]] = []
        self.out: list[Event] = []
        self.sequencer = Sequencer(self.out.append, self._between, self.history.newest,
                                   gap_wait=gap_wait, batch=3)
        self.greenlet: gevent.Greenlet | None = None

    def _between(self, first: int, last: int, limit: int) -> list[Event]:
        self.reads.append((first, last))
        return self.history.between(first, last, limit)

    def start(self) -> None:
        self.greenlet = gevent.spawn(self.sequencer.run)
        wait_for(lambda: self.sequencer.next_id is not None, what="the sequencer anchored")

    def commit(self, *ids: int) -> list[Event]:
        """Insert rows with these ids (committed), return their events."""
        events = [event(i) for i in ids]
        with self.engine.begin() as conn:
            for e in events:
                conn.execute(insert(self.table).values(
                    id=e.id, type=e.type, channel=e.channel, data=e.data, ts=e.ts,
                    created_at=dt.datetime(2026, 1, 1)))
        return events

    def ids(self) -> list[int | None]:
        return [e.id for e in self.out]

    def close(self) -> None:
        if self.greenlet is not None:
            self.greenlet.kill()
        self.engine.dispose()


def event(event_id: int | None, channel: str = "community") -> Event:
    return Event(type="SystemNotification" if event_id else "UserTyping", channel=channel,
                 data={"n": event_id}, id=event_id)


@pytest.fixture
def log(tmp_path: Any) -> Iterator[Log]:
    store = Log(tmp_path, gap_wait=0.3)
    yield store
    store.close()


def test_in_order_events_go_straight_through_without_reading_the_log(log: Log) -> None:
    log.commit(1, 2)
    log.start()
    assert log.sequencer.next_id == 3  # anchored after the log's newest id
    for e in log.commit(3, 4, 5):
        log.sequencer.offer(e)
        assert log.ids()[-1] == e.id  # handed over at once, in the offering greenlet
    assert log.ids() == [3, 4, 5] and log.reads == []


def test_an_early_event_waits_for_the_one_before_it(log: Log) -> None:
    log.start()
    one, two = log.commit(1, 2)
    log.sequencer.offer(two)
    assert log.ids() == []
    log.sequencer.offer(one)
    assert log.ids() == [1, 2]


def test_a_lost_doorbell_is_read_from_the_log_before_the_later_event(log: Log) -> None:
    """Event 2 was committed but its broker message never came (its process was cut off)."""
    log.start()
    one, _, three = log.commit(1, 2, 3)
    log.sequencer.offer(one)
    log.sequencer.offer(three)
    wait_for(lambda: len(log.out) == 3, what="the hole filled from the log")
    assert log.ids() == [1, 2, 3] and log.sequencer.from_log == 1 and log.sequencer.skipped == 0


def test_a_lost_doorbell_with_nothing_after_it_is_found_at_the_log_tail(log: Log) -> None:
    log.start()
    one, _ = log.commit(1, 2)
    log.sequencer.offer(one)
    wait_for(lambda: len(log.out) == 2, what="the log's tail read")
    assert log.ids() == [1, 2]


def test_a_rolled_back_id_is_skipped_after_the_wait_and_nothing_passes_it_before(log: Log) -> None:
    log.start()
    one, three = log.commit(1, 3)  # 2 was taken by a transaction that rolled back
    skipped_when_three_left: list[int] = []

    def emit(e: Event) -> None:
        if e.id == 3:
            skipped_when_three_left.append(log.sequencer.skipped)
        log.out.append(e)

    log.sequencer.emit = emit
    log.sequencer.offer(one)
    log.sequencer.offer(three)
    assert log.ids() == [1]
    wait_for(lambda: len(log.out) == 2, what="id 2 skipped")
    assert log.ids() == [1, 3] and skipped_when_three_left == [1]
    assert (2, 2) in log.reads  # the log was asked for it before it was given up


def test_an_id_committed_during_the_wait_is_delivered_in_its_place(log: Log) -> None:
    log.start()
    one, three = log.commit(1, 3)
    log.sequencer.offer(one)
    log.sequencer.offer(three)
    wait_for(lambda: log.reads, what="a first look at the log")
    log.commit(2)  # committed late, and its doorbell is lost too
    wait_for(lambda: len(log.out) == 3, what="the hole filled")
    assert log.ids() == [1, 2, 3] and log.sequencer.skipped == 0


def test_an_event_arriving_after_its_id_was_skipped_is_dropped_and_counted(log: Log) -> None:
    log.start()
    one, three = log.commit(1, 3)
    log.sequencer.offer(one)
    log.sequencer.offer(three)
    wait_for(lambda: len(log.out) == 2, what="id 2 skipped")
    (two,) = log.commit(2)
    log.sequencer.offer(two)  # too late: clients here already have 3
    assert log.ids() == [1, 3]
    assert (log.sequencer.late, log.sequencer.duplicates) == (1, 0)


def test_duplicates_are_dropped(log: Log) -> None:
    """A relay publishes again what may have gone out; a doorbell may ring after the log read."""
    log.start()
    one, two = log.commit(1, 2)
    for e in (one, one, two, one, two):
        log.sequencer.offer(e)
    assert log.ids() == [1, 2] and log.sequencer.duplicates == 3


def test_events_without_id_pass_a_waiting_hole(log: Log) -> None:
    log.start()
    (two,) = log.commit(2)
    log.sequencer.offer(two)
    log.sequencer.offer(event(None))
    assert log.ids() == [None]


def test_holes_wider_than_a_read_batch_are_read_in_order(log: Log) -> None:
    log.start()
    events = log.commit(*range(1, 11))
    log.sequencer.offer(events[0])
    log.sequencer.offer(events[-1])  # 2..9 lost: three reads of three rows, then one more
    wait_for(lambda: len(log.out) == 10, what="the hole filled")
    assert log.ids() == list(range(1, 11))


def test_reach_waits_for_the_frontier_to_pass_a_committed_id(log: Log) -> None:
    """A resume waits (bounded) for what was committed before it to be dispatched here."""
    log.start()
    log.commit(1, 2)  # both doorbells lost: the tail read is poked by reach
    assert log.sequencer.reach(2, timeout=10) == 2
    assert log.ids() == [1, 2]


def test_events_offered_before_anchoring_go_through_in_increasing_order(log: Log) -> None:
    """The process's first moments (or the log unreachable at start): nothing is held."""
    log.commit(1, 2)
    three, four = log.commit(3, 4)
    for e in (three, four, three):
        log.sequencer.offer(e)  # before the sequencer read the log's newest id
    assert log.ids() == [3, 4] and log.sequencer.duplicates == 1
    log.start()
    assert log.sequencer.next_id == 5


def test_stop_ends_the_greenlet_even_while_the_log_is_unreachable(log: Log) -> None:
    def unreachable() -> int:
        raise OSError("database down")

    log.sequencer.newest = unreachable
    greenlet = gevent.spawn(log.sequencer.run)
    gevent.sleep(0)  # it tries, fails, waits to retry
    log.sequencer.stop()
    greenlet.join(timeout=5)
    assert greenlet.dead


def test_a_stop_before_the_greenlet_first_runs_still_stops_it(log: Log) -> None:
    """A shutdown right after the start (an app stopped at once) must not leave it running."""
    log.sequencer.restart()
    log.greenlet = gevent.spawn(log.sequencer.run)
    log.sequencer.stop()  # before the greenlet had its first turn
    log.greenlet.join(timeout=5)
    assert log.greenlet.dead
