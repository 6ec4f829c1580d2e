"""Control messages (disconnect, revoke, forget the window) are their own kind: never taken for an
event, never logged, replayed or counted, and sent only once their transaction commits."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from itcook.extensions import db
from itcook.realtime.brokers.base import decode, encode
from itcook.realtime.control import DISCONNECT, FORGET_RECENT, REVOKE, Control
from itcook.realtime.events import Event
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect


def _notice(title: str) -> Event:
    return Event(type="SystemNotification", channel="community",
                 data={"title": title, "message": ".", "level": "info"})


@pytest.mark.parametrize("event_type", ["_Unsubscribe", "_DisconnectUser", "_ForgetRecent"])
def test_an_event_of_any_type_reaches_subscribers_as_an_event(live_server, event_type) -> None:
    """Types that once named control messages are plain event types: delivered, nothing else."""
    rt = live_server.state
    anna = Api(live_server).register("anna")
    client = ws_connect(live_server, anna["access_token"])
    with live_server.app.app_context():
        rt.publish_event(Event(type=event_type, channel="community",
                               data={"user_id": None, "code": 4003}))
        rt.publish_event(_notice("after"))
    frame = client.recv()
    assert (frame["type"], frame["channel"]) == (event_type, "community")
    assert client.recv()["data"]["title"] == "after"  # still subscribed, still connected
    client.close()


def test_control_messages_are_never_logged_or_counted(live_server) -> None:
    rt = live_server.state
    api = Api(live_server)
    anna, boris, carol = api.register("anna"), api.register("boris"), api.register("carol")
    watcher = ws_connect(live_server, anna["access_token"])
    revoked = ws_connect(live_server, boris["access_token"])
    closed = ws_connect(live_server, carol["access_token"])
    events = rt.tables["events"]
    with live_server.app.app_context():
        logged = db.session.scalar(select(func.count()).select_from(events))
        rt.revoke("community", boris["user"]["id"])
        rt.forget_recent()
        rt.disconnect_user(carol["user"]["id"], 4003)
        db.session.commit()
        rt.publish_event(_notice("marker"))
    assert revoked.recv()["data"] == {"channels": ["community"], "reason": "access_revoked"}
    assert closed.closed_code() == 4003
    assert watcher.recv()["data"]["title"] == "marker"  # every control message was handled
    with live_server.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(events)) == logged + 1
    assert rt.hub.snapshot()["events_by_type"] == {"SystemNotification": 1}
    watcher.close()
    revoked.close()


def test_a_control_message_waits_for_its_transaction_and_goes_with_a_rollback(live_server) -> None:
    rt = live_server.state
    with live_server.app.app_context():
        first = rt.publish_event(_notice("first"))
        second = rt.publish_event(_notice("second"))
    wait_for(lambda: rt.hub.recent.newest == second.id, what="the dispatcher")
    with live_server.app.app_context():
        db.session.execute(text("SELECT 1"))  # a transaction is open: the purge's, say
        rt.forget_recent()
        assert rt.hub.recent.after(first.id) is not None  # not before the commit
        db.session.rollback()
        rt.publish_event(_notice("third"))
    wait_for(lambda: rt.hub.recent.newest == second.id + 1, what="the dispatcher")
    assert rt.hub.recent.after(first.id) is not None  # rolled back: never sent
    with live_server.app.app_context():
        db.session.execute(text("SELECT 1"))
        rt.forget_recent()
        db.session.commit()
    wait_for(lambda: rt.hub.recent.after(first.id) is None, what="the window emptied")


def test_the_wire_tells_the_two_kinds_apart() -> None:
    event = Event(type="_DisconnectUser", channel="user:7", data={"code": 4003}, id=9)
    assert decode(encode(event)) == event
    for control in (Control(DISCONNECT, user_id="alice", code=4003),
                    Control(REVOKE, channel="group:5", user_id=None), Control(FORGET_RECENT)):
        assert decode(encode(control)) == control


@pytest.mark.parametrize("text_", [
    '{"type":"NewCommunityPost","channel":"community","data":{},"ts":"t"}',  # no envelope
    '{"event":{},"control":{}}',
    '{"control":{"action":"explode"}}',
    '{"control":{"action":"disconnect","user_id":7}}',  # no close code
    '{"control":{"action":"revoke","channel":null}}',
    "[]",
])
def test_a_malformed_broker_message_is_refused(text_) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode(text_)
