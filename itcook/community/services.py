"""Posts, likes, comments and follows: the community logic and its response shapes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.models import Comment, Follow, Like, Post, User, isoformat, utcnow
from itcook.signals import comment_created, emit, post_created, post_liked, post_stats_changed, user_followed
from itcook.validation import is_row_id, paginate

POST_MAX_LEN = 5000
COMMENT_MAX_LEN = 2000


# --- lookups ---------------------------------------------------------------------------------

def post_exists(post_id: int) -> bool:
    """Whether a post with this id exists (the realtime plugin gates ``post:<id>`` on it)."""
    return is_row_id(post_id) and db.session.scalar(select(Post.id).where(Post.id == post_id)) is not None


def _get_post(post_id: int) -> Post:
    post = db.session.get(Post, post_id)
    if post is None:
        raise ApiError(404, "not_found", "post not found")
    return post


def get_active_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        raise ApiError(404, "not_found", "user not found")
    return user


def display_names(user_ids: Iterable[int]) -> dict[int, str]:
    ids = set(user_ids)
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {row.id: row.display_name for row in rows}


def _has_liked(user_id: int, post_id: int) -> bool:
    return db.session.get(Like, (user_id, post_id)) is not None


def _is_following(follower_id: int, followed_id: int) -> bool:
    return db.session.get(Follow, (follower_id, followed_id)) is not None


def _count(stmt: Select[Any]) -> int:
    return int(db.session.scalar(stmt) or 0)


# --- response shapes -------------------------------------------------------------------------

def _post_dict(post: Post, author_name: str, liked: bool, following: bool = False) -> dict[str, Any]:
    return {
        "id": post.id,
        "author_id": post.author_id,
        "author_name": author_name,
        "content": post.content,
        "created_at": isoformat(post.created_at),
        "likes_count": post.likes_count,
        "comments_count": post.comments_count,
        "liked_by_me": liked,
        "author_followed_by_me": following,
    }


def _posts_to_dicts(posts: list[Post], viewer_id: int) -> list[dict[str, Any]]:
    # One query each for the authors, the viewer's likes and whom they follow, whatever the page size.
    names = display_names(post.author_id for post in posts)
    ids = [post.id for post in posts]
    authors = {post.author_id for post in posts}
    liked = set(db.session.scalars(
        select(Like.post_id).where(Like.user_id == viewer_id, Like.post_id.in_(ids)))) if ids else set()
    followed = set(db.session.scalars(
        select(Follow.followed_id).where(Follow.follower_id == viewer_id,
                                         Follow.followed_id.in_(authors)))) if authors else set()
    return [_post_dict(post, names.get(post.author_id, ""), post.id in liked, post.author_id in followed)
            for post in posts]


def _comment_dict(comment: Comment, author_name: str) -> dict[str, Any]:
    return {
        "id": comment.id,
        "post_id": comment.post_id,
        "author_id": comment.author_id,
        "author_name": author_name,
        "content": comment.content,
        "created_at": isoformat(comment.created_at),
    }


def _comments_to_dicts(comments: list[Comment]) -> list[dict[str, Any]]:
    names = display_names(comment.author_id for comment in comments)
    return [_comment_dict(comment, names.get(comment.author_id, "")) for comment in comments]


def _like_state(post_id: int, liked: bool) -> dict[str, Any]:
    likes_count = _count(select(Post.likes_count).where(Post.id == post_id))
    return {"post_id": post_id, "liked": liked, "likes_count": likes_count}


def post_stats(post_id: int) -> dict[str, int] | None:
    """``{post_id, likes_count, comments_count}`` as committed now, or None for no such post."""
    row = db.session.execute(select(Post.likes_count, Post.comments_count)
                             .where(Post.id == post_id)).first()
    return None if row is None else {"post_id": post_id, "likes_count": row[0], "comments_count": row[1]}


def _followers_count(user_id: int) -> int:
    return _count(select(func.count()).select_from(Follow).where(Follow.followed_id == user_id))


def _follow_state(user_id: int, following: bool) -> dict[str, Any]:
    return {"user_id": user_id, "following": following, "followers_count": _followers_count(user_id)}


# --- posts -----------------------------------------------------------------------------------

def create_post(author: User, content: str) -> dict[str, Any]:
    """Store a post and announce it with ``post_created``, in one transaction."""
    post = Post(author_id=author.id, content=content, likes_count=0, comments_count=0,
                created_at=utcnow())
    db.session.add(post)
    db.session.flush()  # the id
    # Built from what is being written, before the commit expires it: reading it back costs
    # queries, and the notification waits for this answer.
    body = _post_dict(post, author.display_name, liked=False)
    emit(post_created, post_id=body["id"], author_id=body["author_id"], author_name=body["author_name"],
         content=content, created_at=body["created_at"])
    db.session.commit()
    return body


def list_posts(viewer: User, author_id: int | None) -> dict[str, Any]:
    """One page of the feed, newest first, optionally of one author."""
    stmt = select(Post).order_by(Post.created_at.desc(), Post.id.desc())
    if author_id is not None:
        stmt = stmt.where(Post.author_id == author_id)
    posts, page = paginate(stmt)
    return {"items": _posts_to_dicts(posts, viewer.id), **page}


def get_post(viewer: User, post_id: int) -> dict[str, Any]:
    """One post as the viewer sees it."""
    return _posts_to_dicts([_get_post(post_id)], viewer.id)[0]


# --- likes -----------------------------------------------------------------------------------

def like_post(user: User, post_id: int) -> tuple[dict[str, Any], bool]:
    """Like a post once; return the like state and whether this call created the like."""
    post_author_id = _get_post(post_id).author_id
    if _has_liked(user.id, post_id):
        return _like_state(post_id, True), False
    try:
        db.session.add(Like(user_id=user.id, post_id=post_id, created_at=utcnow()))
        db.session.flush()
        # The counter moves in SQL, in the like's transaction: concurrent likes never lose one.
        db.session.execute(update(Post).where(Post.id == post_id)
                           .values(likes_count=Post.likes_count + 1))
        state = _like_state(post_id, True)
        emit(post_liked, post_id=post_id, post_author_id=post_author_id, user_id=user.id,
             user_name=user.display_name, likes_count=state["likes_count"])
        emit(post_stats_changed, post_id=post_id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        # A concurrent request of the same user won the primary key: that like is this one.
        if _has_liked(user.id, post_id):
            return _like_state(post_id, True), False
        _get_post(post_id)  # deleted meanwhile -> 404
        raise
    return state, True


def unlike_post(user: User, post_id: int) -> dict[str, Any]:
    """Remove the user's like if there is one (idempotent)."""
    _get_post(post_id)
    removed = db.session.execute(delete(Like).where(Like.user_id == user.id, Like.post_id == post_id))
    # Only the request that really deleted the row lowers the counter.
    if removed.rowcount:  # type: ignore[attr-defined]
        db.session.execute(update(Post).where(Post.id == post_id)
                           .values(likes_count=Post.likes_count - 1))
        emit(post_stats_changed, post_id=post_id)
    db.session.commit()
    return _like_state(post_id, False)


# --- comments --------------------------------------------------------------------------------

def add_comment(author: User, post_id: int, content: str) -> dict[str, Any]:
    """Store a comment, bump the post's counter and announce it with ``comment_created``."""
    post = _get_post(post_id)
    post_author_id = post.author_id
    comment = Comment(post_id=post_id, author_id=author.id, content=content, created_at=utcnow())
    db.session.add(comment)
    db.session.flush()
    body = _comment_dict(comment, author.display_name)  # before the commit expires it: no re-reads
    db.session.execute(update(Post).where(Post.id == post_id)
                       .values(comments_count=Post.comments_count + 1))
    emit(comment_created, comment_id=body["id"], post_id=post_id, post_author_id=post_author_id,
         author_id=body["author_id"], author_name=body["author_name"], content=content,
         created_at=body["created_at"])
    emit(post_stats_changed, post_id=post_id)
    db.session.commit()
    return body


def list_comments(post_id: int) -> dict[str, Any]:
    """One page of a post's comments, oldest first."""
    _get_post(post_id)
    stmt = (select(Comment).where(Comment.post_id == post_id)
            .order_by(Comment.created_at.asc(), Comment.id.asc()))
    comments, page = paginate(stmt)
    return {"items": _comments_to_dicts(comments), **page}


# --- follows and profiles --------------------------------------------------------------------

def _refuse_self(follower: User, user_id: int) -> None:
    if follower.id == user_id:
        raise ApiError(400, "cannot_follow_self", "you cannot follow yourself")


def follow_user(follower: User, user_id: int) -> tuple[dict[str, Any], bool]:
    """Follow an active user once; return the state and whether this call created the follow."""
    _refuse_self(follower, user_id)
    get_active_user(user_id)
    if _is_following(follower.id, user_id):
        return _follow_state(user_id, True), False
    try:
        db.session.add(Follow(follower_id=follower.id, followed_id=user_id, created_at=utcnow()))
        db.session.flush()  # a concurrent identical follow fails here, before the announcement
        emit(user_followed, follower_id=follower.id, follower_name=follower.display_name,
             followed_id=user_id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if _is_following(follower.id, user_id):  # a concurrent identical request won
            return _follow_state(user_id, True), False
        get_active_user(user_id)
        raise
    return _follow_state(user_id, True), True


def unfollow_user(follower: User, user_id: int) -> dict[str, Any]:
    """Stop following a user (idempotent; a disabled user can still be unfollowed)."""
    _refuse_self(follower, user_id)
    if db.session.get(User, user_id) is None:
        raise ApiError(404, "not_found", "user not found")
    db.session.execute(delete(Follow).where(Follow.follower_id == follower.id,
                                            Follow.followed_id == user_id))
    db.session.commit()
    return _follow_state(user_id, False)


def public_profile(viewer: User, user_id: int) -> dict[str, Any]:
    """An active user's public profile with follow and post counts."""
    user = get_active_user(user_id)
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "followers_count": _followers_count(user.id),
        "following_count": _count(select(func.count()).select_from(Follow)
                                  .where(Follow.follower_id == user.id)),
        "posts_count": _count(select(func.count()).select_from(Post).where(Post.author_id == user.id)),
        "followed_by_me": _is_following(viewer.id, user.id),
    }


# --- account removal -------------------------------------------------------------------------

def retract_user_activity(user_id: int) -> None:
    """Take a user's likes and comments out of other posts' counters (before deleting the user).

    Runs in the caller's transaction; the caller deletes the rows and commits.
    """
    liked = select(Like.post_id).where(Like.user_id == user_id)
    db.session.execute(update(Post).where(Post.id.in_(liked))
                       .values(likes_count=Post.likes_count - 1)
                       .execution_options(synchronize_session=False))
    # Correlated count: one user may have several comments on the same post.
    own_comments = (select(func.count()).select_from(Comment)
                    .where(Comment.post_id == Post.id, Comment.author_id == user_id)
                    .scalar_subquery())
    commented = select(Comment.post_id).where(Comment.author_id == user_id)
    db.session.execute(update(Post).where(Post.id.in_(commented))
                       .values(comments_count=Post.comments_count - own_comments)
                       .execution_options(synchronize_session=False))
