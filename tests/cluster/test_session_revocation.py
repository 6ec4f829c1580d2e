"""Ending an account's sessions on one process ends them on every process (the database is shared)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from tests.support.cluster import PG_URL, Cluster
from tests.support.rest import Api
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import HandshakeRefused, ws_connect


def _make_admin(user: dict[str, Any]) -> None:
    engine = create_engine(PG_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE users SET role = 'admin' WHERE id = :id"), {"id": user["user"]["id"]})
    finally:
        engine.dispose()


def _ws_code(server: Any, token: str | None = None, query: str = "") -> int | str:
    try:
        ws_connect(server, token, query=query).close()
    except HandshakeRefused as exc:
        return exc.code
    return 101


def test_a_disable_on_one_process_ends_tokens_and_tickets_on_another(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    admin = Api(a).register("root")
    _make_admin(admin)
    api_b = Api(b)
    anna = api_b.register("anna")
    # Process b has verified (and remembers) anna's token, and holds a ticket of hers.
    assert _ws_code(b, anna["access_token"]) == 101
    ticket = api_b.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]

    Api(a).call("POST", f"/admin/users/{anna['user']['id']}/disable", admin, expect=200)
    Api(a).call("POST", f"/admin/users/{anna['user']['id']}/enable", admin, expect=200)

    assert _ws_code(b, anna["access_token"]) == "token_revoked"
    assert _ws_code(b, query=f"?ticket={ticket}") == "token_revoked"
    stream = SseStream(b, anna["access_token"])
    assert (stream.status, stream.response.json()["error"]["code"]) == (401, "token_revoked")
    stream.close()
    me = api_b.call("GET", "/auth/me", anna)
    assert (me.status_code, me.json()["error"]["code"]) == (401, "token_revoked")
    refresh = api_b.call("POST", "/auth/refresh", {"headers": {
        "Authorization": f"Bearer {anna['refresh_token']}"}})
    assert (refresh.status_code, refresh.json()["error"]["code"]) == (401, "token_revoked")


def test_a_deletion_on_one_process_empties_every_process_window(cluster: Cluster) -> None:
    """A resume on another process, answered from its window of recent events, never brings
    back what a deletion purged from the log."""
    a, b = cluster.start(2)
    admin = Api(a).register("root")
    _make_admin(admin)
    anna, bob = Api(b).register("anna"), Api(a).register("bob")
    post = Api(b).call("POST", "/community/posts", anna, expect=201, json={"content": "mine"}).json()
    for author, server in ((bob, a), (anna, b)):
        Api(server).call("POST", f"/community/posts/{post['id']}/comments", author, expect=201,
                         json={"content": author["user"]["username"]})
    Api(a).call("DELETE", f"/admin/users/{bob['user']['id']}", admin, expect=204)

    def replayed_on_b() -> list[str]:
        client = ws_connect(b, anna["access_token"], query=f"?channels=post:{post['id']}&last_event_id=0")
        contents = []
        for _ in range(100):
            frame = client.recv(10)
            if frame["type"] == "Recovery":
                client.close()
                return contents
            contents.append(frame["data"]["content"])
        raise AssertionError("no Recovery frame")

    # The broker carries the deletion's message to b; each resume reads afresh.
    wait_for(lambda: replayed_on_b() == ["anna"], timeout=10, what="b to replay only anna's comment")
