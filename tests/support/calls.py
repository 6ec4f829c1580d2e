"""Calls for tests and benchmarks: a group whose members are in one call, and Signal frames."""

from __future__ import annotations

from typing import Any

from tests.support.rest import Api
from tests.support.ws import Client


def group_with(api: Api, owner: dict[str, Any], *members: dict[str, Any]) -> int:
    """An open group of ``owner`` that ``members`` joined; its id."""
    group = api.call("POST", "/groups", owner, expect=201, json={"name": "Kitchen", "open": True}).json()
    for member in members:
        api.call("POST", f"/groups/{group['id']}/join", member, expect=201)
    return int(group["id"])


def call_with(api: Api, starter: dict[str, Any], *others: dict[str, Any]) -> int:
    """A live call of a new group: ``starter`` started it, ``others`` joined it; its id."""
    call = api.call("POST", f"/groups/{group_with(api, starter, *others)}/calls", starter, expect=201).json()
    for other in others:
        api.call("POST", f"/calls/{call['id']}/join", other, expect=200)
    return int(call["id"])


def signal(client: Client, call_id: Any, to: int, kind: str = "offer", **data: Any) -> None:
    """Send one Signal frame."""
    client.send({"type": "Signal", "call_id": call_id, "to": to, "kind": kind, "data": data})


def recv_signal(client: Client, timeout: float = 5.0) -> dict[str, Any]:
    """The next Signal frame; it is never durable (no ``id``)."""
    frame = client.recv_type("Signal", timeout=timeout)
    assert "id" not in frame, frame
    return frame


def recv_error(client: Client, timeout: float = 5.0) -> dict[str, Any]:
    """The data of the next Error frame."""
    return client.recv_type("Error", timeout=timeout)["data"]
