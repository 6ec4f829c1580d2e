"""Community routes: posts, likes, comments, follows, profiles, and their signals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from itcook.community import services
from itcook.extensions import db
from itcook.models import Comment, Follow, Like, Post, User

API = "/api/v1/community"


@pytest.fixture
def anna(auth) -> dict[str, Any]:
    return auth.register("anna", display_name="Anna K")


@pytest.fixture
def bob(auth) -> dict[str, Any]:
    return auth.register("bob", display_name="Bob")


def _post(client, user: dict[str, Any], content: str = "Borscht tonight") -> dict[str, Any]:
    response = client.post(f"{API}/posts", json={"content": content}, headers=user["headers"])
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _count(app, model: Any, *where: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _deactivate(app, user_id: int) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        user.is_active = False
        db.session.commit()


def _logged(app, event_type: str) -> int:
    """How many events of this type the log holds (committed ones only)."""
    with app.app_context(), db.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM realtime_events WHERE type = :t"),
                                      {"t": event_type}).scalar() or 0)


def _visible_from_another_connection(app, sql: str, **params: Any) -> bool:
    # A second connection only sees committed rows: which side of the commit a signal came.
    with app.app_context(), db.engine.connect() as connection:
        return connection.execute(text(sql), params).first() is not None


# --- authentication on every route -----------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("post", "/posts"), ("get", "/posts"), ("get", "/posts/1"),
    ("post", "/posts/1/like"), ("delete", "/posts/1/like"),
    ("post", "/posts/1/comments"), ("get", "/posts/1/comments"),
    ("post", "/users/1/follow"), ("delete", "/users/1/follow"), ("get", "/users/1"),
])
def test_every_route_needs_a_token(client, signals, method, path) -> None:
    response = getattr(client, method)(API + path, json={"content": "x"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"
    assert signals.calls == []


# --- posts -----------------------------------------------------------------------------------

def test_create_post_returns_it_and_signals_once_inside_its_transaction(app, client, signals,
                                                                        anna) -> None:
    seen: list[bool] = []

    def check(sender: Any, **kwargs: Any) -> None:
        seen.append(_visible_from_another_connection(app, "SELECT id FROM posts WHERE id = :id",
                                                     id=kwargs["post_id"]))

    from itcook.signals import post_created
    post_created.connect(check, sender=app)
    try:
        post = _post(client, anna, "  Borscht tonight  ")
    finally:
        post_created.disconnect(check, sender=app)
    assert post == {
        "id": post["id"], "author_id": anna["user"]["id"], "author_name": "Anna K",
        "content": "Borscht tonight", "created_at": post["created_at"], "likes_count": 0,
        "comments_count": 0, "liked_by_me": False, "author_followed_by_me": False,
    }
    assert post["created_at"].endswith("Z")
    assert signals.named("post-created") == [{
        "post_id": post["id"], "author_id": anna["user"]["id"], "author_name": "Anna K",
        "content": "Borscht tonight", "created_at": post["created_at"],
    }]
    assert seen == [False]  # receivers write its event in the same transaction
    assert len(signals.calls) == 1
    # The answer is built before the commit, not read back: it must be what is stored.
    assert client.get(f"{API}/posts/{post['id']}", headers=anna["headers"]).get_json() == post


def test_post_content_of_exactly_the_maximum_length_is_accepted(client, anna) -> None:
    assert _post(client, anna, "x" * 5000)["content"] == "x" * 5000


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"),
    ({"content": None}, "missing_field"),
    ({"content": ""}, "invalid_field"),
    ({"content": "   \n\t "}, "invalid_field"),
    ({"content": "x" * 5001}, "invalid_field"),
    ({"content": 42}, "invalid_field"),
    ({"content": ["text"]}, "invalid_field"),
    ({"content": True}, "invalid_field"),
])
def test_create_post_validation(app, client, signals, anna, body, code) -> None:
    response = client.post(f"{API}/posts", json=body, headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert _count(app, Post) == 0 and signals.calls == []


@pytest.mark.parametrize("path", ["/posts", "/posts/{id}/comments"])
def test_non_json_and_bad_json_bodies(client, signals, anna, path) -> None:
    url = API + path.format(id=_post(client, anna)["id"])
    signals.calls.clear()
    response = client.post(url, data="content=hi", content_type="text/plain", headers=anna["headers"])
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    for raw in ("{not json", "[1, 2]", '"text"'):
        response = client.post(url, data=raw, content_type="application/json", headers=anna["headers"])
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "invalid_json"
    assert signals.calls == []


def test_feed_is_newest_first_paginated_and_filtered(client, anna, bob) -> None:
    ids = [_post(client, anna, "a1")["id"], _post(client, bob, "b1")["id"], _post(client, anna, "a2")["id"]]
    feed = client.get(f"{API}/posts", headers=bob["headers"]).get_json()
    assert [item["id"] for item in feed["items"]] == ids[::-1]
    assert (feed["page"], feed["per_page"], feed["total"]) == (1, 20, 3)
    assert {item["author_name"] for item in feed["items"]} == {"Anna K", "Bob"}

    page2 = client.get(f"{API}/posts?per_page=2&page=2", headers=bob["headers"]).get_json()
    assert [item["id"] for item in page2["items"]] == [ids[0]]
    assert page2["total"] == 3

    only_anna = client.get(f"{API}/posts?author_id={anna['user']['id']}", headers=bob["headers"]).get_json()
    assert [item["content"] for item in only_anna["items"]] == ["a2", "a1"]
    assert only_anna["total"] == 2
    nobody = client.get(f"{API}/posts?author_id=9999", headers=bob["headers"]).get_json()
    assert nobody["items"] == [] and nobody["total"] == 0


@pytest.mark.parametrize("query", ["author_id=abc", "author_id=0", "author_id=-3", "page=0",
                                   "per_page=0", "per_page=101", "page=x"])
def test_feed_bad_query_parameters(client, anna, query) -> None:
    response = client.get(f"{API}/posts?{query}", headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_get_one_post_and_liked_by_me(client, anna, bob) -> None:
    post = _post(client, anna)
    assert client.post(f"{API}/posts/{post['id']}/like", headers=bob["headers"]).status_code == 201
    as_bob = client.get(f"{API}/posts/{post['id']}", headers=bob["headers"]).get_json()
    as_anna = client.get(f"{API}/posts/{post['id']}", headers=anna["headers"]).get_json()
    assert as_bob["liked_by_me"] is True and as_anna["liked_by_me"] is False
    assert as_bob["likes_count"] == as_anna["likes_count"] == 1
    feed = client.get(f"{API}/posts", headers=bob["headers"]).get_json()
    assert feed["items"][0]["liked_by_me"] is True


def test_the_feed_says_whose_authors_the_viewer_follows(client, anna, bob) -> None:
    _post(client, anna, "by anna")
    _post(client, bob, "by bob")
    feed = lambda user: {p["content"]: p["author_followed_by_me"]  # noqa: E731
                         for p in client.get(f"{API}/posts", headers=user["headers"]).get_json()["items"]}
    assert feed(bob) == {"by anna": False, "by bob": False}
    client.post(f"{API}/users/{anna['user']['id']}/follow", headers=bob["headers"])
    assert feed(bob) == {"by anna": True, "by bob": False}  # one's own posts: never followed
    assert feed(anna) == {"by anna": False, "by bob": False}
    client.delete(f"{API}/users/{anna['user']['id']}/follow", headers=bob["headers"])
    assert feed(bob)["by anna"] is False


def test_a_100_kb_post_is_refused_with_the_limit_not_cut(app, client, signals, anna) -> None:
    response = client.post(f"{API}/posts", json={"content": "é" * 100_000}, headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "code": "invalid_field",
        "message": "content: must be at most 5000 characters long (this one has 100000)"}
    assert _count(app, Post) == 0 and signals.calls == []


@pytest.mark.parametrize("path", ["/posts/999", "/posts/999/comments", "/posts/abc"])
def test_unknown_post_is_404(client, anna, path) -> None:
    response = client.get(API + path, headers=anna["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_post_exists(app, client, anna) -> None:
    post = _post(client, anna)
    with app.app_context():
        assert services.post_exists(post["id"]) is True
        assert services.post_exists(post["id"] + 1) is False


# --- likes -----------------------------------------------------------------------------------

def test_like_is_idempotent_and_signals_only_new_likes(app, client, signals, anna, bob) -> None:
    post = _post(client, anna)
    signals.calls.clear()
    url = f"{API}/posts/{post['id']}/like"
    seen: list[bool] = []

    def check(sender: Any, **kwargs: Any) -> None:
        seen.append(_visible_from_another_connection(
            app, "SELECT post_id FROM likes WHERE post_id = :p AND user_id = :u",
            p=kwargs["post_id"], u=kwargs["user_id"]))

    from itcook.signals import post_liked
    post_liked.connect(check, sender=app)
    try:
        first = client.post(url, headers=bob["headers"])
        again = client.post(url, headers=bob["headers"])
    finally:
        post_liked.disconnect(check, sender=app)
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json() == again.get_json() == {"post_id": post["id"], "liked": True, "likes_count": 1}
    assert signals.named("post-liked") == [{
        "post_id": post["id"], "post_author_id": anna["user"]["id"], "user_id": bob["user"]["id"],
        "user_name": "Bob", "likes_count": 1,
    }]
    assert seen == [False]  # sent inside the like's transaction
    assert _count(app, Like) == 1


def test_liking_ones_own_post_also_signals(client, signals, anna) -> None:
    post = _post(client, anna)
    response = client.post(f"{API}/posts/{post['id']}/like", headers=anna["headers"])
    assert response.status_code == 201
    assert signals.named("post-liked") == [{
        "post_id": post["id"], "post_author_id": anna["user"]["id"], "user_id": anna["user"]["id"],
        "user_name": "Anna K", "likes_count": 1,
    }]


def test_unlike_is_idempotent_and_only_changes_the_counters(app, client, signals, anna, bob) -> None:
    post = _post(client, anna)
    url = f"{API}/posts/{post['id']}/like"
    client.post(url, headers=anna["headers"])
    client.post(url, headers=bob["headers"])
    signals.calls.clear()
    first = client.delete(url, headers=bob["headers"])
    again = client.delete(url, headers=bob["headers"])
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json() == {"post_id": post["id"], "liked": False, "likes_count": 1}
    # No notification; the counters' change once (PostStats), for the unlike that removed a like.
    assert signals.calls == [("post-stats-changed", {"post_id": post["id"]})]
    assert _count(app, Like) == 1
    # Liking again after an unlike is a new like and is announced again.
    relike = client.post(url, headers=bob["headers"])
    assert relike.status_code == 201 and relike.get_json()["likes_count"] == 2
    assert len(signals.named("post-liked")) == 1


@pytest.mark.parametrize("method", ["post", "delete"])
def test_like_unknown_post_is_404(app, client, signals, anna, method) -> None:
    response = getattr(client, method)(f"{API}/posts/404/like", headers=anna["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert signals.calls == [] and _count(app, Like) == 0


def test_concurrent_duplicate_like_counts_once(app, client, signals, anna, bob, monkeypatch) -> None:
    """Another request inserts the same like between our check and our insert."""
    post = _post(client, anna)
    signals.calls.clear()
    with app.app_context():
        db.session.add(Like(user_id=bob["user"]["id"], post_id=post["id"]))
        db.session.execute(db.update(Post).where(Post.id == post["id"]).values(likes_count=1))
        db.session.commit()
    real_has_liked = services._has_liked
    calls: list[int] = []

    def stale_first_check(user_id: int, post_id: int) -> bool:
        calls.append(post_id)
        return False if len(calls) == 1 else real_has_liked(user_id, post_id)

    monkeypatch.setattr(services, "_has_liked", stale_first_check)
    response = client.post(f"{API}/posts/{post['id']}/like", headers=bob["headers"])
    assert response.status_code == 200
    assert response.get_json() == {"post_id": post["id"], "liked": True, "likes_count": 1}
    assert len(calls) == 2  # the stale check, then the re-check after the IntegrityError
    assert signals.calls == []
    assert _count(app, Like) == 1


@pytest.fixture
def failing_commit(app) -> Iterator[list[type[Exception]]]:
    """While the list holds an exception class, every session commit raises it."""
    armed: list[type[Exception]] = []

    def before_commit(session: Any) -> None:
        if armed:
            error = armed[0]
            raise error("COMMIT", {}, Exception("simulated failure"))  # type: ignore[call-arg]

    event.listen(db.session, "before_commit", before_commit)
    yield armed
    event.remove(db.session, "before_commit", before_commit)


@pytest.mark.parametrize("error", [OperationalError, IntegrityError])
def test_like_whose_commit_fails_is_json_500_without_row_or_event(app, client, signals, anna, bob,
                                                                   failing_commit, error) -> None:
    post = _post(client, anna)
    signals.calls.clear()
    failing_commit.append(error)
    response = client.post(f"{API}/posts/{post['id']}/like", headers=bob["headers"])
    failing_commit.clear()
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "database_error"
    assert _logged(app, "PostLiked") == 0  # its event went with the rolled-back transaction
    assert _count(app, Like) == 0
    with app.app_context():
        assert db.session.get(Post, post["id"]).likes_count == 0
    # The app recovers: the next like works and is announced once.
    assert client.post(f"{API}/posts/{post['id']}/like", headers=bob["headers"]).status_code == 201
    assert _logged(app, "PostLiked") == 1


def test_failed_comment_commit_leaves_counter_and_logs_nothing(app, client, signals, anna,
                                                                 failing_commit) -> None:
    post = _post(client, anna)
    signals.calls.clear()
    failing_commit.append(OperationalError)
    response = client.post(f"{API}/posts/{post['id']}/comments", json={"content": "hi"},
                           headers=anna["headers"])
    failing_commit.clear()
    assert response.status_code == 500 and response.get_json()["error"]["code"] == "database_error"
    assert _logged(app, "NewComment") == 0 and _count(app, Comment) == 0
    with app.app_context():
        assert db.session.get(Post, post["id"]).comments_count == 0


# --- comments --------------------------------------------------------------------------------

def test_comment_is_created_counted_and_signalled(app, client, signals, anna, bob) -> None:
    post = _post(client, anna)
    signals.calls.clear()
    response = client.post(f"{API}/posts/{post['id']}/comments", json={"content": "  Yum!  "},
                           headers=bob["headers"])
    assert response.status_code == 201
    comment = response.get_json()
    assert comment == {"id": comment["id"], "post_id": post["id"], "author_id": bob["user"]["id"],
                       "author_name": "Bob", "content": "Yum!", "created_at": comment["created_at"]}
    assert signals.named("comment-created") == [{
        "comment_id": comment["id"], "post_id": post["id"], "post_author_id": anna["user"]["id"],
        "author_id": bob["user"]["id"], "author_name": "Bob", "content": "Yum!",
        "created_at": comment["created_at"],
    }]
    assert signals.named("post-stats-changed") == [{"post_id": post["id"]}]  # the counters (PostStats)
    assert len(signals.calls) == 2
    fetched = client.get(f"{API}/posts/{post['id']}", headers=anna["headers"]).get_json()
    assert fetched["comments_count"] == 1
    # Built before the commit, as the post's answer: it must be what is stored.
    listed = client.get(f"{API}/posts/{post['id']}/comments", headers=anna["headers"]).get_json()
    assert listed["items"] == [comment]


@pytest.mark.parametrize("body, code", [
    ({}, "missing_field"),
    ({"content": ""}, "invalid_field"),
    ({"content": "  "}, "invalid_field"),
    ({"content": "x" * 2001}, "invalid_field"),
    ({"content": 7}, "invalid_field"),
    ({"content": {"a": 1}}, "invalid_field"),
])
def test_comment_validation(app, client, signals, anna, body, code) -> None:
    post = _post(client, anna)
    signals.calls.clear()
    response = client.post(f"{API}/posts/{post['id']}/comments", json=body, headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code
    assert signals.calls == [] and _count(app, Comment) == 0


def test_comment_on_unknown_post_is_404(app, client, signals, anna) -> None:
    response = client.post(f"{API}/posts/77/comments", json={"content": "hi"}, headers=anna["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert signals.calls == [] and _count(app, Comment) == 0


def test_comments_are_listed_oldest_first_and_paginated(client, anna, bob) -> None:
    post = _post(client, anna)
    other = _post(client, bob)
    for index, user in enumerate((bob, anna, bob)):
        client.post(f"{API}/posts/{post['id']}/comments", json={"content": f"c{index}"},
                    headers=user["headers"])
    client.post(f"{API}/posts/{other['id']}/comments", json={"content": "elsewhere"},
                headers=anna["headers"])
    listing = client.get(f"{API}/posts/{post['id']}/comments", headers=anna["headers"]).get_json()
    assert [item["content"] for item in listing["items"]] == ["c0", "c1", "c2"]
    assert [item["author_name"] for item in listing["items"]] == ["Bob", "Anna K", "Bob"]
    assert listing["total"] == 3
    page = client.get(f"{API}/posts/{post['id']}/comments?per_page=2&page=2",
                      headers=anna["headers"]).get_json()
    assert [item["content"] for item in page["items"]] == ["c2"]
    bad = client.get(f"{API}/posts/{post['id']}/comments?per_page=nope", headers=anna["headers"])
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_parameter"


# --- follows and profiles --------------------------------------------------------------------

def test_follow_is_idempotent_and_signals_once(app, client, signals, anna, bob) -> None:
    url = f"{API}/users/{bob['user']['id']}/follow"
    first = client.post(url, headers=anna["headers"])
    again = client.post(url, headers=anna["headers"])
    assert first.status_code == 201 and again.status_code == 200
    expected = {"user_id": bob["user"]["id"], "following": True, "followers_count": 1}
    assert first.get_json() == again.get_json() == expected
    assert signals.named("user-followed") == [{
        "follower_id": anna["user"]["id"], "follower_name": "Anna K", "followed_id": bob["user"]["id"],
    }]
    assert len(signals.calls) == 1
    assert _count(app, Follow) == 1


def test_unfollow_is_idempotent_and_silent(app, client, signals, anna, bob) -> None:
    url = f"{API}/users/{bob['user']['id']}/follow"
    client.post(url, headers=anna["headers"])
    signals.calls.clear()
    first = client.delete(url, headers=anna["headers"])
    again = client.delete(url, headers=anna["headers"])
    assert first.status_code == again.status_code == 200
    expected = {"user_id": bob["user"]["id"], "following": False, "followers_count": 0}
    assert first.get_json() == again.get_json() == expected
    assert signals.calls == [] and _count(app, Follow) == 0


@pytest.mark.parametrize("method", ["post", "delete"])
def test_cannot_follow_self(app, client, signals, anna, method) -> None:
    response = getattr(client, method)(f"{API}/users/{anna['user']['id']}/follow", headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "cannot_follow_self"
    assert signals.calls == [] and _count(app, Follow) == 0


@pytest.mark.parametrize("method", ["post", "delete"])
def test_follow_unknown_user_is_404(client, signals, anna, method) -> None:
    response = getattr(client, method)(f"{API}/users/999/follow", headers=anna["headers"])
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert signals.calls == []


def test_follow_inactive_user_is_404_but_unfollow_works(app, client, signals, anna, bob) -> None:
    url = f"{API}/users/{bob['user']['id']}/follow"
    client.post(url, headers=anna["headers"])
    signals.calls.clear()
    _deactivate(app, bob["user"]["id"])
    response = client.post(url, headers=anna["headers"])
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.delete(url, headers=anna["headers"])
    assert response.status_code == 200 and response.get_json()["following"] is False
    assert signals.calls == []


def test_public_profile_counts(client, auth, anna, bob) -> None:
    carl = auth.register("carl")
    _post(client, anna)
    _post(client, anna)
    for follower in (bob, carl):
        client.post(f"{API}/users/{anna['user']['id']}/follow", headers=follower["headers"])
    client.post(f"{API}/users/{carl['user']['id']}/follow", headers=anna["headers"])
    response = client.get(f"{API}/users/{anna['user']['id']}", headers=bob["headers"])
    assert response.status_code == 200
    assert response.get_json() == {
        "id": anna["user"]["id"], "username": "anna", "display_name": "Anna K",
        "followers_count": 2, "following_count": 1, "posts_count": 2, "followed_by_me": True,
    }
    own = client.get(f"{API}/users/{anna['user']['id']}", headers=anna["headers"]).get_json()
    assert own["followed_by_me"] is False


def test_profile_of_unknown_or_inactive_user_is_404(app, client, anna, bob) -> None:
    assert client.get(f"{API}/users/999", headers=anna["headers"]).status_code == 404
    _deactivate(app, bob["user"]["id"])
    response = client.get(f"{API}/users/{bob['user']['id']}", headers=anna["headers"])
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
