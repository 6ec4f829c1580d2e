"""Participants whose connections are all gone leave their call after ``ITCOOK_CALL_AWAY_SECONDS``.

A periodic job, once per cluster (the jobs' lock): each round asks the real-time plugin whether
each participant of a live call holds a connection on any process, notes in the database since
when one does not (so the next round may run on another process), and takes out those away
for the whole time. A live call left with nobody (its participants' accounts were deleted)
ends.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from itcook.calls.services import end_call, remove_participant
from itcook.extensions import db
from itcook.locking import lock_for_update
from itcook.models import Call, CallParticipant, User, utcnow

JOB = "calls-away"


def interval(away_seconds: float) -> float:
    """How often the job runs: a few rounds per away time, at most every 5 s."""
    return min(5.0, max(0.2, away_seconds / 4)) if away_seconds > 0 else 0.0


def check(app: Flask) -> int:
    """One round; returns how many participants it took out of their calls."""
    away_for = dt.timedelta(seconds=float(app.config["CALL_AWAY_SECONDS"]))
    state: Any = app.extensions["realtime"]
    now = utcnow()
    gone: list[tuple[int, int]] = []
    rows = db.session.execute(select(CallParticipant.call_id, CallParticipant.user_id,
                                     CallParticipant.away_since)
                              .join(Call, Call.id == CallParticipant.call_id)
                              .where(Call.ended_at.is_(None))).all()
    for call_id, user_id, away_since in rows:
        if state.is_user_online(user_id):
            if away_since is not None:
                _mark(call_id, user_id, None)
        elif away_since is None:
            _mark(call_id, user_id, now)
        elif now - away_since >= away_for:
            gone.append((call_id, user_id))
    db.session.commit()
    for call_id, user_id in gone:
        _take_out(state, call_id, user_id, away_for)
    for call_id in db.session.scalars(select(Call.id).where(
            Call.ended_at.is_(None), ~Call.id.in_(select(CallParticipant.call_id)))).all():
        if lock_for_update(Call, call_id):
            call = db.session.get(Call, call_id)
            db.session.refresh(call)
            if call.ended_at is None and db.session.scalars(select(CallParticipant.user_id).where(
                    CallParticipant.call_id == call_id)).first() is None:
                end_call(call)
        db.session.commit()
    return len(gone)


def _mark(call_id: int, user_id: int, since: dt.datetime | None) -> None:
    # A statement, not an ORM row: a participant who left meanwhile is simply not updated.
    db.session.execute(update(CallParticipant).where(
        CallParticipant.call_id == call_id, CallParticipant.user_id == user_id).values(away_since=since))


def _take_out(state: Any, call_id: int, user_id: int, away_for: dt.timedelta) -> None:
    # Under the call's lock, and only if still away: they may have come back meanwhile.
    if not lock_for_update(Call, call_id):
        db.session.rollback()
        return
    call = db.session.get(Call, call_id)
    row = db.session.get(CallParticipant, (call_id, user_id))
    assert call is not None
    db.session.refresh(call)
    if row is not None:
        db.session.refresh(row)
    if call.ended_at is None and row is not None and row.away_since is not None \
            and utcnow() - row.away_since >= away_for and not state.is_user_online(user_id):
        user = db.session.get(User, user_id)
        remove_participant(call, user_id, user.display_name if user else "", "away")
    db.session.commit()
