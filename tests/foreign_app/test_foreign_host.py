"""A host that is not IT Cook (``todo.py``) uses the plugin through its public API only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import simple_websocket
from flask import Flask
from gevent.pywsgi import WSGIServer
from sqlalchemy import create_engine, inspect, text

from itcook.realtime import signals as realtime_signals
from tests.support import todo_app as todo
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import HandshakeRefused, ws_connect


class Served:
    """The to-do app behind gevent's plain WSGI server on a free loopback port."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.server = WSGIServer(("127.0.0.1", 0), app, log=None)
        self.server.start()
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"

    def token(self, account: str) -> str:
        return requests.post(f"{self.url}/login", json={"account": account}, timeout=5).json()["token"]

    def post(self, path: str, account: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, timeout=5,
                             headers={"Authorization": f"Bearer {self.token(account)}"})


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Served]:
    app = todo.create_app(f"sqlite:///{tmp_path}/todo.db", REALTIME_HEARTBEAT_INTERVAL=30.0)
    with app.app_context():
        todo.store.session.add_all([todo.Account(id="alice", name="Alice"),
                                    todo.Account(id="bob", name="Bob"),
                                    todo.RoomMember(room="general", account_id="alice")])
        todo.store.session.commit()
    served = Served(app)
    todo.realtime.start(app)
    yield served
    todo.realtime.shutdown(app)
    served.server.stop(timeout=2)


def test_its_database_holds_its_tables_and_the_plugins_only(host: Served) -> None:
    with host.app.app_context():
        tables = set(inspect(todo.store.engine).get_table_names())
    assert tables == {"accounts", "todos", "room_members", "realtime_events", "realtime_outbox",
                      "realtime_tickets", "realtime_event_days"}


def test_the_plugin_leaves_other_engines_as_sqlite_makes_them(host: Served, tmp_path: Path) -> None:
    # An IT Cook app was built in this process too (other tests): its pragmas are its own.
    from itcook import create_app

    create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/itcook.db"})
    engine = create_engine(f"sqlite:///{tmp_path}/other.db")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 0
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "delete"
    engine.dispose()


def test_a_string_principal_hears_its_personal_events_over_websocket(host: Served) -> None:
    client = ws_connect(host, host.token("alice"))
    assert host.post("/todos", "alice", {"title": "buy milk"}).status_code == 201
    host.post("/todos", "bob", {"title": "not for alice"})
    frame = client.recv_type("TodoAdded")
    assert frame["channel"] == "personal" and frame["data"]["title"] == "buy milk"
    assert isinstance(frame["id"], int)
    client.assert_silent()
    client.close()


def test_sse_with_a_ticket_of_a_string_principal(host: Served) -> None:
    issued = host.post("/api/v1/realtime/ticket", "alice", {})
    assert issued.status_code == 201, issued.text
    stream = SseStream(host, query=f"?ticket={issued.json()['ticket']}&channels=personal")
    assert stream.status == 200
    host.post("/todos", "alice", {"title": "over SSE"})
    event = stream.next()
    assert event["event"] == "TodoAdded" and event["frame"]["data"]["title"] == "over SSE"
    assert event["id"] == event["frame"]["id"]
    stream.close()


def test_the_plugins_signals_tell_the_host_of_each_logged_and_published_event(host: Served) -> None:
    seen: list[tuple[str, int, bool]] = []

    def logged(sender: Flask, event: Any) -> None:  # inside the change's transaction
        seen.append(("logged", event.id, todo.store.session().in_transaction()))

    def published(sender: Flask, event: Any) -> None:
        seen.append(("published", event.id, event.type == "TodoAdded"))

    realtime_signals.event_logged.connect(logged, sender=host.app)
    realtime_signals.event_published.connect(published, sender=host.app)
    try:
        event_id = host.post("/rooms/general/messages", "alice", {"text": "hi"}).json()["id"]
        wait_for(lambda: len(seen) == 2, what="both signals")
    finally:
        realtime_signals.event_logged.disconnect(logged, sender=host.app)
        realtime_signals.event_published.disconnect(published, sender=host.app)
    assert seen == [("logged", event_id, True), ("published", event_id, False)]


def test_an_event_type_sent_while_away_is_replayed_on_resume(host: Served) -> None:
    """TodoAdded is a type the plugin never heard of: logged all the same, nothing lost."""
    client = ws_connect(host, host.token("alice"))
    host.post("/todos", "alice", {"title": "first"})
    seen = client.recv_type("TodoAdded")["id"]
    client.close()
    host.post("/todos", "alice", {"title": "while away"})
    back = ws_connect(host, host.token("alice"), query=f"?last_event_id={seen}")
    missed = back.recv_type("TodoAdded")
    assert missed["data"]["title"] == "while away" and missed["id"] > seen
    recovery = back.recv_type("Recovery")["data"]
    assert recovery["recovered"] is True and recovery["replayed"] == 1
    back.close()


def test_custom_channel_kinds_with_string_and_number_keys(host: Served) -> None:
    client = ws_connect(host, host.token("alice"), query="?channels=room:general,chat-room:7")
    assert host.post("/rooms/general/messages", "bob", {"text": "hi"}).status_code == 201
    frame = client.recv_type("RoomMessage")
    assert frame["channel"] == "room:general" and frame["data"] == {"by": "bob", "text": "hi"}
    for channel, code in (("room:secret", "forbidden_channel"), ("chat-room:100", "channel_not_found"),
                          ("chat-room:seven", "unknown_channel"), ("user:bob", "forbidden_channel"),
                          ("club:1", "unknown_channel")):
        client.send({"type": "Subscribe", "channels": [channel]})
        assert client.recv_type("Error")["data"]["code"] == code, channel
    client.send({"type": "Subscribe", "channels": ["user:alice"]})
    assert client.recv_type("Subscribed")["data"]["channels"] == ["user:alice"]
    client.close()


def test_refusals_are_json_without_a_handler_of_the_host(host: Served) -> None:
    with pytest.raises(HandshakeRefused) as refused:
        ws_connect(host, "forged")
    assert refused.value.status == 401 and refused.value.code == "invalid_token"
    response = requests.post(f"{host.url}/api/v1/realtime/ticket", timeout=5)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


def test_a_deactivated_account_is_closed_by_the_recheck(host: Served) -> None:
    client = ws_connect(host, host.token("bob"))
    assert client.subscribe("personal:bob")["data"]["channels"] == ["personal:bob"]  # it is served
    with host.app.app_context():
        todo.store.session.get(todo.Account, "bob").active = False
        todo.store.session.commit()
    assert todo.realtime.state(host.app).recheck_principals() == 1
    assert client.closed_code() == 4003


def test_the_hosts_own_websocket_route_and_metrics_keep_working(host: Served) -> None:
    ws = simple_websocket.Client.connect(f"ws://127.0.0.1:{host.port}/echo", subprotocols=["todo.v1"])
    assert ws.subprotocol == "todo.v1"  # the host's SOCK_SERVER_OPTIONS, not the plugin's
    ws.send("hello")
    assert ws.receive(timeout=5) == "HELLO"  # and the route closes the socket
    response = requests.get(f"{host.url}/metrics", timeout=5)
    assert response.text == "todo_items_total 0\n"


def _is_plugin_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json", response.text
    assert response.json()["error"]["code"] == code


def test_http_errors_under_the_plugins_prefix_are_its_json(host: Served) -> None:
    prefix = f"{host.url}/api/v1/realtime"
    _is_plugin_error(requests.get(f"{prefix}/nothing-here", timeout=5), 404, "not_found")
    _is_plugin_error(requests.get(prefix, timeout=5), 404, "not_found")
    wrong = requests.delete(f"{prefix}/ticket", timeout=5)
    _is_plugin_error(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]
    _is_plugin_error(requests.get(f"{prefix}/ws", timeout=5), 400, "websocket_required")
    assert todo.realtime.state(host.app).hub.stats.handshake_failures["websocket_required"] == 1
    # The host's own pages keep the host's answers (Flask's HTML here).
    elsewhere = requests.get(f"{host.url}/nothing-here", timeout=5)
    assert elsewhere.status_code == 404 and elsewhere.headers["Content-Type"].startswith("text/html")
    assert requests.get(f"{host.url}/api/v1/realtime-x", timeout=5).headers["Content-Type"].startswith(
        "text/html")


def test_a_failure_in_a_plugin_route_is_its_json_500(host: Served) -> None:
    def broken(account: str, key: str) -> bool:
        raise RuntimeError("the host's authorizer failed")

    todo.realtime.register_channel(host.app, "broken", broken, key=str)
    response = requests.get(f"{host.url}/api/v1/realtime/sse?channels=broken:1", timeout=5,
                            headers={"Authorization": f"Bearer {host.token('alice')}"})
    _is_plugin_error(response, 500, "internal_error")
    assert "authorizer" not in response.text  # no internals in the answer
