"""A deleted or disabled account's credentials and events never reach anyone again.

Ids are never reused (SQLite included), every token and ticket is bound to its account's
session, and deleting a user, a post or a group takes its logged events with it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Integer, func, select

from itcook.extensions import db
from tests.support.rest import Api
from tests.support.sse import SseStream
from tests.support.waiting import wait_for
from tests.support.ws import HandshakeRefused, ws_connect

TRANSPORTS = ["websocket", "sse"]


def _resume_from_zero(server: Any, transport: str, token: str, channels: str) -> tuple[list[dict], dict]:
    """Resume from event 0 on ``channels``: the replayed frames, and the Recovery frame after them."""
    query = f"?channels={channels}&last_event_id=0"
    if transport == "websocket":
        client = ws_connect(server, token, query=query)
        recv = client.recv
    else:
        client = SseStream(server, token, query=query)
        assert client.status == 200, client.response.text
        recv = lambda: client.next()["frame"]  # noqa: E731
    frames = []
    for _ in range(1000):  # bounded: a replay of this test's few events ends with Recovery
        frame = recv()
        if frame["type"] == "Recovery":
            client.close()
            return frames, frame
        frames.append(frame)
    raise AssertionError("no Recovery frame")


def _refused(server: Any, transport: str, token: str | None = None, query: str = "") -> tuple[int, str]:
    if transport == "sse":
        stream = SseStream(server, token, query=query)
        status = stream.status
        code = stream.response.json()["error"]["code"] if status != 200 else ""
        stream.close()
        return status, code
    try:
        ws_connect(server, token, query=query).close()
    except HandshakeRefused as exc:
        return exc.status, exc.code
    return 101, ""


def _logged(server: Any, channel: str | None = None, post_id: int | None = None) -> int:
    """How many events the log holds on ``channel``, or naming community post ``post_id``."""
    table = server.state.tables["events"]
    query = select(func.count()).select_from(table)
    if channel is not None:
        query = query.where(table.c.channel == channel)
    if post_id is not None:
        query = query.where(table.c.channel == "community",
                            table.c.data["post_id"].as_integer() == post_id)
    with server.app.app_context(), db.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _old_credentials_are_dead(server: Any, api: Api, old: dict[str, Any], ticket: str,
                              code: str) -> None:
    """Access token, refresh token and ticket of ``old`` fail everywhere with 401 ``code``."""
    me = api.call("GET", "/auth/me", old)
    assert (me.status_code, me.json()["error"]["code"]) == (401, code)
    refresh = api.call("POST", "/auth/refresh", {"headers": {
        "Authorization": f"Bearer {old['refresh_token']}"}})
    assert (refresh.status_code, refresh.json()["error"]["code"]) == (401, code)
    minted = api.call("POST", "/realtime/ticket", old)
    assert (minted.status_code, minted.json()["error"]["code"]) == (401, code)
    for transport in TRANSPORTS:
        assert _refused(server, transport, old["access_token"]) == (401, code)
    assert _refused(server, "websocket", query=f"?ticket={ticket}") == (401, code)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_new_account_gets_neither_the_id_the_tokens_nor_the_events_of_a_deleted_one(
        live_server, api, transport) -> None:
    admin, bob = api.register_admin(), api.register("bob")
    anna = api.register("anna")  # the newest account: its id is the one SQLite used to reuse
    post = api.call("POST", "/community/posts", anna, expect=201, json={"content": "borscht"}).json()
    api.call("POST", f"/community/posts/{post['id']}/like", bob, expect=201)
    api.call("POST", f"/community/posts/{post['id']}/comments", bob, expect=201, json={"content": "yum"})
    api.call("POST", "/admin/notifications", admin, expect=201,
             json={"title": "private", "message": "for anna only", "user_id": anna["user"]["id"]})
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    assert _logged(live_server, f"user:{anna['user']['id']}") == 3

    api.call("DELETE", f"/admin/users/{anna['user']['id']}", admin, expect=204)
    # The log forgot them in the deletion's transaction.
    assert _logged(live_server, f"user:{anna['user']['id']}") == 0
    assert _logged(live_server, f"post:{post['id']}") == 0
    assert _logged(live_server, post_id=post["id"]) == 0

    carol = api.register("carol")
    assert carol["user"]["id"] > anna["user"]["id"]
    _old_credentials_are_dead(live_server, api, anna, ticket, "user_inactive")
    assert api.call("GET", "/auth/me", carol, expect=200).json()["username"] == "carol"
    frames, recovery = _resume_from_zero(live_server, transport, carol["access_token"], "personal")
    assert frames == [] and recovery["data"]["replayed"] == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_new_post_never_replays_the_comments_of_a_deleted_one(live_server, api, transport) -> None:
    admin, bob, anna = api.register_admin(), api.register("bob"), api.register("anna")
    gone = api.call("POST", "/community/posts", anna, expect=201, json={"content": "gone"}).json()
    api.call("POST", f"/community/posts/{gone['id']}/comments", bob, expect=201, json={"content": "secret"})
    api.call("DELETE", f"/admin/users/{anna['user']['id']}", admin, expect=204)  # the post goes too

    new = api.call("POST", "/community/posts", bob, expect=201, json={"content": "new"}).json()
    assert new["id"] > gone["id"]
    comments = api.call("GET", f"/community/posts/{new['id']}/comments", bob, expect=200).json()
    assert comments["items"] == []
    frames, recovery = _resume_from_zero(live_server, transport, bob["access_token"], f"post:{new['id']}")
    assert frames == [] and recovery["data"]["replayed"] == 0
    # The deleted post's own channel is gone: dropped, not replayed.
    frames, recovery = _resume_from_zero(live_server, transport, bob["access_token"],
                                         f"personal,post:{gone['id']}")
    assert [f["type"] for f in frames] == ["Unsubscribed"]
    assert frames[0]["data"] == {"channels": [f"post:{gone['id']}"], "reason": "channel_not_found"}


def test_disabling_ends_every_token_and_ticket_even_once_enabled_again(live_server, api) -> None:
    admin, anna = api.register_admin(), api.register("anna")
    ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    sse_ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
    api.call("POST", f"/admin/users/{anna['user']['id']}/disable", admin, expect=200)
    api.call("POST", f"/admin/users/{anna['user']['id']}/enable", admin, expect=200)

    _old_credentials_are_dead(live_server, api, anna, ticket, "token_revoked")
    assert _refused(live_server, "sse", query=f"?ticket={sse_ticket}") == (401, "token_revoked")
    stats = api.call("GET", "/realtime/stats", admin, expect=200).json()
    assert stats["handshake_failures_by_reason"]["token_revoked"] == 4
    # The account itself works again: a new login gets a working pair.
    fresh = api.http.post(f"{api.base}/auth/login", json={"username": "anna", "password": "secret123"},
                          timeout=10).json()
    fresh["headers"] = {"Authorization": f"Bearer {fresh['access_token']}"}
    api.call("GET", "/auth/me", fresh, expect=200)
    refreshed = api.call("POST", "/auth/refresh", {"headers": {
        "Authorization": f"Bearer {fresh['refresh_token']}"}}, expect=200).json()
    assert _refused(live_server, "websocket", refreshed["access_token"]) == (101, "")
    ticket = api.call("POST", "/realtime/ticket", fresh, expect=201).json()["ticket"]
    assert _refused(live_server, "sse", query=f"?ticket={ticket}&channels=personal") == (200, "")


def test_a_token_without_a_session_is_refused(live_server, api) -> None:
    """A token signed with the right key but issued before sessions existed (no claim) is dead."""
    import datetime as dt

    import jwt as pyjwt

    anna = api.register("anna")
    now = dt.datetime.now(dt.UTC)
    legacy = pyjwt.encode({"sub": str(anna["user"]["id"]), "type": "access", "fresh": False, "jti": "j",
                           "iat": now, "nbf": now, "exp": now + dt.timedelta(minutes=5)},
                          live_server.app.config["JWT_SECRET_KEY"], "HS256")
    me = api.call("GET", "/auth/me", {"headers": {"Authorization": f"Bearer {legacy}"}})
    assert (me.status_code, me.json()["error"]["code"]) == (401, "token_revoked")
    for transport in TRANSPORTS:
        assert _refused(live_server, transport, legacy) == (401, "token_revoked")


def test_deleting_a_user_forgets_what_they_wrote_on_other_posts_and_groups(live_server, api) -> None:
    admin, carol, bob = api.register_admin(), api.register("carol"), api.register("bob")
    post = api.call("POST", "/community/posts", carol, expect=201, json={"content": "mine"}).json()
    group = api.call("POST", "/groups", carol, expect=201, json={"name": "Blini", "open": True}).json()
    api.call("POST", f"/groups/{group['id']}/join", bob, expect=201)
    for author in (bob, carol):
        api.call("POST", f"/community/posts/{post['id']}/comments", author, expect=201,
                 json={"content": author["user"]["username"]})
        api.call("POST", f"/groups/{group['id']}/posts", author, expect=201,
                 json={"content": author["user"]["username"]})
    assert len(live_server.state.hub.recent) == 6  # a resume would be served from memory
    api.call("DELETE", f"/admin/users/{bob['user']['id']}", admin, expect=204)
    # After the commit every process empties its window (a broker message): resumes read the log.
    wait_for(lambda: len(live_server.state.hub.recent) == 0, what="the window to be emptied")
    for channel in (f"post:{post['id']}", f"group:{group['id']}"):
        frames, _ = _resume_from_zero(live_server, "websocket", carol["access_token"], channel)
        assert [f["data"]["content"] for f in frames] == ["carol"]  # what REST still shows
    assert _logged(live_server, post_id=post["id"]) == 1  # carol's post itself stays


def test_deleting_a_group_forgets_its_events(live_server, api) -> None:
    owner, bob = api.register("owner"), api.register("bob")
    group = api.call("POST", "/groups", owner, expect=201, json={"name": "Pelmeni", "open": True}).json()
    api.call("POST", f"/groups/{group['id']}/join", bob, expect=201)
    api.call("POST", f"/groups/{group['id']}/posts", bob, expect=201, json={"content": "hello"})
    assert _logged(live_server, f"group:{group['id']}") == 1
    api.call("DELETE", f"/groups/{group['id']}", owner, expect=204)
    assert _logged(live_server, f"group:{group['id']}") == 0


def test_deleting_a_group_forgets_its_invitations_in_inboxes_and_the_log(live_server, api) -> None:
    """Create, invite, delete, again: the invitee is left with nothing to read or replay, and
    neither is anyone invited to a group of a deleted account."""
    admin, owner, anna = api.register_admin(), api.register("owner"), api.register("anna")
    kept = api.call("POST", "/groups", owner, expect=201, json={"name": "kept"}).json()
    api.call("POST", f"/groups/{kept['id']}/invites", owner, expect=201, json={"user_id": anna["user"]["id"]})
    for i in range(3):
        group = api.call("POST", "/groups", owner, expect=201, json={"name": f"FREE PRIZES {i}"}).json()
        api.call("POST", f"/groups/{group['id']}/invites", owner, expect=201,
                 json={"user_id": anna["user"]["id"]})
        api.call("DELETE", f"/groups/{group['id']}", owner, expect=204)
    inbox = api.call("GET", "/notifications", anna, expect=200).json()
    assert [n["data"]["group_id"] for n in inbox["items"]] == [kept["id"]] and inbox["unread_count"] == 1
    frames, _ = _resume_from_zero(live_server, "websocket", anna["access_token"], "personal")
    assert [f["data"]["group_name"] for f in frames] == ["kept"]
    api.call("DELETE", f"/admin/users/{owner['user']['id']}", admin, expect=204)
    assert api.call("GET", "/notifications", anna, expect=200).json()["items"] == []
    assert _logged(live_server, f"user:{anna['user']['id']}") == 0


def test_every_table_with_a_generated_integer_id_never_reuses_it() -> None:
    """A new table whose id reaches a client must say so too (``NEVER_REUSE_IDS``)."""
    plain = []
    for table in db.metadata.tables.values():
        key = list(table.primary_key.columns)
        generated = (len(key) == 1 and isinstance(key[0].type, Integer) and not key[0].foreign_keys
                     and key[0].autoincrement is not False)
        if generated and not table.dialect_options["sqlite"]["autoincrement"]:
            plain.append(table.name)
    assert plain == []
