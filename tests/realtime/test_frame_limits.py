"""Per-frame-type size limits: a registered type may be larger; every other keeps the general one."""

from __future__ import annotations

import json
from typing import Any

import pytest
from wsproto.events import TextMessage

from itcook.extensions import realtime
from itcook.realtime.events import control_frame
from tests.support.rest import Api
from tests.support.waiting import wait_for
from tests.support.ws import ws_connect

GENERAL = 4096  # the default REALTIME_MAX_MESSAGE_BYTES
BIG = 65536


def _echo(principal: Any, conn: Any, frame: dict[str, Any]) -> None:
    conn.deliver(control_frame("Echoed", {"type": frame["type"], "length": len(frame["blob"])}))


@pytest.fixture
def api(live_server) -> Api:
    realtime.register_frame(live_server.app, "Big", _echo, max_bytes=BIG)
    realtime.register_frame(live_server.app, "Plain", _echo)
    return Api(live_server)


def _frame(frame_type: str, size: int) -> str:
    """A JSON frame of ``frame_type`` exactly ``size`` bytes long."""
    empty = json.dumps({"type": frame_type, "blob": ""})
    return json.dumps({"type": frame_type, "blob": "x" * (size - len(empty))})


def _refused_as_too_big(live_server, client) -> None:
    error = client.recv()
    assert error["type"] == "Error" and error["data"]["code"] == "message_too_big", error
    assert client.closed_code(5.0) == 1009
    assert live_server.state.hub.stats.errors["message_too_big"] == 1


def test_a_registered_type_takes_frames_up_to_its_own_limit(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    text = _frame("Big", BIG)
    client.send(text)
    assert client.recv_type("Echoed")["data"] == {"type": "Big", "length": BIG - len(_frame("Big", 0))}
    # In fragments too: the limit is of the whole message.
    client.sock.sendall(client.proto.send(TextMessage(data=text[:30000], message_finished=False)))
    client.sock.sendall(client.proto.send(TextMessage(data=text[30000:], message_finished=True)))
    assert client.recv_type("Echoed")["data"]["type"] == "Big"
    client.send(_frame("Plain", GENERAL))  # the general limit itself is still allowed
    assert client.recv_type("Echoed")["data"]["type"] == "Plain"
    assert not live_server.state.hub.stats.errors
    client.close()


def test_a_registered_type_over_its_own_limit_is_too_big(live_server, api) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    client.send(_frame("Big", BIG + 1))
    _refused_as_too_big(live_server, client)


@pytest.mark.parametrize("text", [
    _frame("Plain", GENERAL + 1),  # registered without a limit of its own
    _frame("Subscribe", 10000),  # the plugin's own frames
    json.dumps({"type": "Nope", "blob": "x" * 10000}),  # a type nobody knows
    "x" * 10000,  # not JSON: as if the reading had stopped at the general limit
    '{"type": "Big", "blob": "' + "x" * 10000,  # cut short, and so not the type it claims
])
def test_other_frames_keep_the_general_limit(live_server, api, text) -> None:
    client = ws_connect(live_server, api.register("anna")["access_token"])
    bystander = ws_connect(live_server, api.register("bob")["access_token"])
    client.send(text)
    _refused_as_too_big(live_server, client)
    bystander.send(_frame("Big", BIG))  # nobody else is disturbed
    assert bystander.recv_type("Echoed")["data"]["type"] == "Big"
    bystander.close()
    wait_for(lambda: not live_server.state.hub.connections, what="hub to empty")


def test_max_bytes_must_be_a_positive_int(app) -> None:
    for bad in (0, -1, True, 1.5, "64k"):
        with pytest.raises(ValueError):
            realtime.register_frame(app, "Big", _echo, max_bytes=bad)
    assert "Big" not in app.extensions["realtime"].frame_handlers


@pytest.mark.realtime_config(REALTIME_RATE=0.01, REALTIME_BURST=1)
def test_a_client_over_the_rate_gets_no_parse_of_a_large_message(live_server, api) -> None:
    """The rate is checked before a message is parsed: a large one from a client over it is
    refused as rate limited (the connection stays), not read as JSON."""
    client = ws_connect(live_server, api.register("anna")["access_token"])
    client.send(_frame("Plain", 10))
    assert client.recv_type("Echoed")["data"]["type"] == "Plain"  # the one frame of the burst
    client.send(_frame("Plain", 2 * GENERAL))  # would be refused as too big once parsed
    error = client.recv_type("Error")
    assert error["data"]["code"] == "rate_limited", error
    assert "message_too_big" not in live_server.state.hub.stats.errors
    client.close()
