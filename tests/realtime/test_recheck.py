"""The periodic principal recheck: a user the database says is no longer active is closed with
4003 even when no broker message said so; one query serves every connection."""

from __future__ import annotations

import gevent
import pytest
from sqlalchemy import update

from itcook.extensions import db
from itcook.models import User
from tests.support.rest import Api
from tests.support.streams import TRANSPORTS, Stream
from tests.support.waiting import wait_for
from tests.support.ws import ConnectionClosed


def _until_closed(stream: Stream, timeout: float = 10.0) -> int | None:
    """Read until the server ends the stream; its close code (None for SSE)."""
    with gevent.Timeout(timeout, False):
        while True:
            try:
                stream.frame(timeout)
            except ConnectionClosed as exc:
                return exc.code
            except StopIteration:
                return None
    raise AssertionError("the stream stayed open")


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.realtime_config(REALTIME_PRINCIPAL_RECHECK_INTERVAL=0.2)
def test_a_user_disabled_without_a_broker_message_is_closed_by_the_recheck(live_server, transport) -> None:
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    state = live_server.state
    batches: list[list[int]] = []
    loader = state.active_users
    state.active_users = lambda ids: batches.append(list(ids)) or loader(ids)
    streams = [Stream(transport, live_server, user["access_token"]) for user in (anna, anna, boris)]
    wait_for(lambda: len(state.hub.connections) == 3, what="three streams")
    # Straight in the database, as a process that missed the disable's broker message sees it.
    with live_server.app.app_context():
        db.session.execute(update(User).where(User.id == anna["user"]["id"]).values(is_active=False))
        db.session.commit()
    codes = [_until_closed(stream) for stream in streams[:2]]
    assert codes == ([4003, 4003] if transport == "websocket" else [None, None])
    wait_for(lambda: state.hub.stats.disconnects["user_revoked"] == 2, what="both counted as revoked")
    assert [c.user_id for c in state.hub.connections] == [boris["user"]["id"]]
    # One query per recheck for all the connections: each batch names each user once.
    assert batches and all(sorted(set(batch)) == batch for batch in batches)
    assert [anna["user"]["id"], boris["user"]["id"]] in batches
    for stream in streams:
        stream.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.realtime_config(REALTIME_PRINCIPAL_RECHECK_INTERVAL=0.2)
def test_a_user_whose_sessions_ended_is_closed_by_the_recheck_while_active(live_server, transport) -> None:
    """Disabled and enabled again (or any end of sessions) where no broker message said so:
    the account is active, but the stream's credential was revoked."""
    api = Api(live_server)
    anna, boris = api.register("anna"), api.register("boris")
    state = live_server.state
    streams = [Stream(transport, live_server, user["access_token"]) for user in (anna, boris)]
    wait_for(lambda: len(state.hub.connections) == 2, what="two streams")
    with live_server.app.app_context():
        db.session.execute(update(User).where(User.id == anna["user"]["id"]).values(
            session_key="0" * 32))
        db.session.commit()
    assert _until_closed(streams[0]) == (4003 if transport == "websocket" else None)
    wait_for(lambda: state.hub.stats.disconnects["user_revoked"] == 1, what="counted as revoked")
    assert [c.user_id for c in state.hub.connections] == [boris["user"]["id"]]
    for stream in streams:
        stream.close()
