"""Calls: starting, joining, leaving, and who is in one. Every change announces itself by a
signal in its transaction (``itcook/live.py`` makes the events).

Locks, always in this order: the group's row (starting a call, removing a member), then the
call's row (joining, leaving, dropping). A join checks membership under the call's lock, so a
removal that commits first refuses it, and one that commits later finds the participant.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from itcook.errors import ApiError
from itcook.extensions import db, realtime
from itcook.groups.services import require_member
from itcook.locking import lock_for_update
from itcook.models import Call, CallParticipant, Group, User, isoformat, utcnow
from itcook.signals import call_ended, call_participant_joined, call_participant_left, call_started, emit
from itcook.validation import is_row_id, paginate


class CallInProgress(ApiError):
    """409: the group already has a live call; the answer names it (``call``)."""

    def __init__(self, call: dict[str, Any]) -> None:
        super().__init__(409, "call_in_progress",
                         f"this group already has a live call ({call['id']}): join it")
        self.call = call


def participants(call_id: int) -> list[dict[str, Any]]:
    """Who is in the call now, by joining time."""
    rows = db.session.execute(select(CallParticipant.user_id, User.display_name, CallParticipant.joined_at)
                              .join(User, User.id == CallParticipant.user_id)
                              .where(CallParticipant.call_id == call_id)
                              .order_by(CallParticipant.joined_at, CallParticipant.user_id)).all()
    return [{"user_id": uid, "user_name": name, "joined_at": isoformat(joined)} for uid, name, joined in rows]


def call_dict(call: Call) -> dict[str, Any]:
    """A call as the API shows it: ``{id, group_id, started_by, started_at, ended_at, participants}``."""
    return {"id": call.id, "group_id": call.group_id, "started_by": call.started_by,
            "started_at": isoformat(call.started_at),
            "ended_at": isoformat(call.ended_at) if call.ended_at is not None else None,
            # An ended call has nobody in it (it ends when the last one goes): no query.
            "participants": participants(call.id) if call.ended_at is None else []}


def _live_call(group_id: int) -> Call | None:
    return db.session.scalars(select(Call).where(Call.group_id == group_id, Call.ended_at.is_(None))).first()


def _locked_call(call_id: int, user: User) -> Call:
    """The call, its row held until the commit, if ``user`` is a member of its group (404, 403)."""
    if not is_row_id(call_id) or not lock_for_update(Call, call_id):
        raise ApiError(404, "not_found", "call not found")
    call = db.session.get(Call, call_id)
    assert call is not None
    db.session.refresh(call)  # what the lock holder before us committed
    if call.group_id is None:
        raise ApiError(404, "not_found", "call not found")
    require_member(call.group_id, user)
    return call


def get_call(user: User, call_id: int) -> dict[str, Any]:
    """One call, live or ended (members of its group only)."""
    call = db.session.get(Call, call_id) if is_row_id(call_id) else None
    if call is None or call.group_id is None:
        raise ApiError(404, "not_found", "call not found")
    require_member(call.group_id, user)
    return call_dict(call)


def list_calls(user: User, group_id: int) -> dict[str, Any]:
    """One page of a group's calls, newest first: a live one is the first, ``ended_at`` null."""
    if not is_row_id(group_id) or db.session.get(Group, group_id) is None:
        raise ApiError(404, "not_found", "group not found")
    require_member(group_id, user)
    calls, page = paginate(select(Call).where(Call.group_id == group_id).order_by(Call.id.desc()))
    return {"items": [call_dict(call) for call in calls], **page}


def start_call(user: User, group_id: int) -> dict[str, Any]:
    """A member starts the group's call and is its first participant (409 if one is live)."""
    if not is_row_id(group_id) or not lock_for_update(Group, group_id):
        raise ApiError(404, "not_found", "group not found")
    require_member(group_id, user)
    live = _live_call(group_id)
    if live is not None:
        body = call_dict(live)
        db.session.rollback()
        raise CallInProgress(body)
    call = Call(group_id=group_id, started_by=user.id, started_at=utcnow())
    db.session.add(call)
    try:
        db.session.flush()  # the id; the unique index of live calls, should the lock not hold
    except IntegrityError:
        db.session.rollback()
        live = _live_call(group_id)
        if live is None:
            raise
        raise CallInProgress(call_dict(live)) from None
    db.session.add(CallParticipant(call_id=call.id, user_id=user.id, joined_at=utcnow()))
    emit(call_started, call_id=call.id, group_id=group_id, started_by=user.id,
         started_by_name=user.display_name)
    emit(call_participant_joined, call_id=call.id, group_id=group_id, user_id=user.id,
         user_name=user.display_name)
    db.session.flush()
    body = call_dict(call)
    db.session.commit()
    return body


def join_call(user: User, call_id: int, max_participants: int) -> dict[str, Any]:
    """Join a live call (idempotent); 409 ``call_ended``, 409 ``call_full`` past the cap."""
    call = _locked_call(call_id, user)
    if call.ended_at is not None:
        db.session.rollback()
        raise ApiError(409, "call_ended", "this call has ended: start a new one")
    if db.session.get(CallParticipant, (call.id, user.id)) is None:
        count = db.session.scalar(select(func.count()).select_from(CallParticipant)
                                  .where(CallParticipant.call_id == call.id))
        if int(count or 0) >= max_participants:
            db.session.rollback()
            raise ApiError(409, "call_full", "a call holds at most %(limit)d people", limit=max_participants)
        db.session.add(CallParticipant(call_id=call.id, user_id=user.id, joined_at=utcnow()))
        emit(call_participant_joined, call_id=call.id, group_id=call.group_id, user_id=user.id,
             user_name=user.display_name)
        db.session.flush()
    body = call_dict(call)
    db.session.commit()
    return body


def remove_participant(call: Call, user_id: int, user_name: str, reason: str) -> bool:
    """In the caller's transaction, under the call's lock: ``user_id`` leaves ``call`` (the last
    one ends it). False if they were not in it."""
    row = db.session.get(CallParticipant, (call.id, user_id))
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    emit(call_participant_left, call_id=call.id, group_id=call.group_id, user_id=user_id,
         user_name=user_name, reason=reason)
    if not _anyone_in(call.id):
        end_call(call)
    return True


def _anyone_in(call_id: int) -> bool:
    return db.session.scalars(select(CallParticipant.user_id)
                              .where(CallParticipant.call_id == call_id)).first() is not None


def end_call(call: Call) -> None:
    """In the caller's transaction: the call is over."""
    call.ended_at = utcnow()
    emit(call_ended, call_id=call.id, group_id=call.group_id)


def leave_call(user: User, call_id: int) -> dict[str, Any]:
    """Leave a call (idempotent); the last to leave ends it."""
    call = _locked_call(call_id, user)
    remove_participant(call, user.id, user.display_name, "left")
    db.session.flush()
    body = call_dict(call)
    db.session.commit()
    return body


def drop_member(group_id: int, user_id: int) -> None:
    """In the transaction that removes ``user_id`` from the group: out of its live call, and off
    the call's channel, at once."""
    live = _live_call(group_id)
    if live is None or not lock_for_update(Call, live.id):
        return
    db.session.refresh(live)
    if live.ended_at is not None:
        return
    user = db.session.get(User, user_id)
    remove_participant(live, user_id, user.display_name if user else "", "removed")
    realtime.revoke(f"call:{live.id}", user_id)  # a listener who was not in it too


def forget_orphans() -> None:
    """In a group deletion's transaction: its calls (their group now NULL) go, with their
    events, and whoever listens to them is taken off at once."""
    ids = list(db.session.scalars(select(Call.id).where(Call.group_id.is_(None))))
    if not ids:
        return
    channels = [f"call:{call_id}" for call_id in ids]
    realtime.purge(db.session, channels)  # the group's own deletion forgets recent events
    db.session.execute(delete(Call).where(Call.id.in_(ids)))
    for channel in channels:
        realtime.revoke(channel)


def max_participants() -> int:
    """``ITCOOK_CALL_MAX_PARTICIPANTS``."""
    return int(current_app.config["CALL_MAX_PARTICIPANTS"])
