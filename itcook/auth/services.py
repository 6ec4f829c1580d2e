"""Password hashing, user creation and lookup, and the JWT callbacks."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, Response, current_app
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_current_user,
    verify_jwt_in_request,
)
from gevent import monkey
from gevent.threadpool import ThreadPool
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from itcook.auth.throttle import init_app as init_throttle
from itcook.errors import ApiError, error_response
from itcook.extensions import db, jwt
from itcook.i18n import gettext
from itcook.models import User, new_session_key
from itcook.validation import is_row_id

F = TypeVar("F", bound=Callable[..., Any])

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
PASSWORD_MIN, PASSWORD_MAX = 8, 128

#: Every token binds to ``User.session_key`` by this claim (the real-time plugin checks it too).
SESSION_CLAIM = "ses"


class _Passwords:
    """The app's argon2id hasher, run on a bounded pool of OS threads off the event loop.

    One hash costs ~130 ms of CPU with the default parameters; on the loop it would stall every
    request and stream of the process for that long. argon2's C code releases the GIL, so the
    loop keeps serving while the pool's threads hash.
    """

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int, threads: int) -> None:
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                     parallelism=parallelism)
        self.threads = max(1, threads)
        self._pool: ThreadPool | None = None
        # Verifying against this keeps "unknown user" as slow as "wrong password".
        self.dummy_hash = self.hasher.hash("not-a-real-password")

    @property
    def pool(self) -> ThreadPool:
        # Made on first use, in the serving process and its hub (not in a preloading parent).
        if self._pool is None:
            self._pool = ThreadPool(self.threads, idle_task_timeout=60.0)
        return self._pool

    def hash(self, password: str) -> str:
        """The argon2id hash of ``password``, computed on the pool."""
        return cast(str, self.pool.apply(_niced, (self.hasher.hash, password)))

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``, checked on the pool."""
        return bool(self.pool.apply(_niced, (self._verify, password_hash, password)))

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


#: The OS thread id of the calling thread (the real one: ``threading`` may be patched by gevent).
_native_thread_id = monkey.get_original("threading", "get_native_id")
#: Niceness of the hashing threads (and of argon2's lane threads, which inherit it).
HASH_NICENESS = 10


def _niced(func: Callable[..., Any], *args: Any) -> Any:
    # On a busy core the loop's thread comes first: a flood of logins waits for CPU, the
    # requests and streams of everyone else do not (Linux: niceness is per thread).
    if hasattr(os, "setpriority"):
        tid = _native_thread_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < HASH_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, HASH_NICENESS)
    return func(*args)


def _passwords() -> _Passwords:
    return current_app.extensions["itcook.passwords"]  # type: ignore[no-any-return]


def validate_username(username: str) -> None:
    """Raise 400 unless the username is 3–32 of letters, digits, ``_.-``."""
    if not USERNAME_RE.match(username):
        raise ApiError(400, "invalid_field",
                       "username: 3-32 characters, letters, digits, '_', '.' or '-'")


def validate_password(password: str) -> None:
    """Raise 400 unless the password has 8–128 characters and a letter and a digit."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ApiError(400, "invalid_field", "password: %(minimum)d-%(maximum)d characters",
                       minimum=PASSWORD_MIN, maximum=PASSWORD_MAX)
    if not (re.search(r"[A-Za-z]", password) and re.search(r"\d", password)):
        raise ApiError(400, "invalid_field", "password: needs at least one letter and one digit")


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _passwords().hash(password)


def create_user(username: str, password: str, display_name: str | None = None,
                role: str = "user") -> User:
    """Create and commit a user; 409 if the username (case-insensitively) is taken."""
    validate_username(username)
    validate_password(password)
    if db.session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise ApiError(409, "username_taken", "this username is already taken")
    user = User(username=username, display_name=display_name or username,
                password_hash=hash_password(password), role=role, is_active=True)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ApiError(409, "username_taken", "this username is already taken") from None
    return user


def authenticate(username: str, password: str) -> User:
    """Return the active user with these credentials, or raise the same 401 for any failure."""
    user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
    passwords = _passwords()
    if not passwords.verify(user.password_hash if user else passwords.dummy_hash, password):
        user = None
    if user is None or not user.is_active:
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    if passwords.hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return user


def issue_tokens(user: User) -> dict[str, str]:
    """Return a fresh access and refresh token pair for ``user``."""
    return {"access_token": create_access_token(identity=user),
            "refresh_token": create_refresh_token(identity=user)}


def end_sessions(user: User) -> None:
    """Draw a new session key: every token and ticket issued to ``user`` so far stops working.

    Runs in the caller's transaction; whatever disables an account or changes its password
    calls it. The caller commits.
    """
    user.session_key = new_session_key()


def current_user() -> User:
    """The user of the verified access token of this request."""
    return cast(User, get_current_user())


def admin_required(view: F) -> F:
    """Decorate a view so that only an admin's access token reaches it (403 otherwise)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verify_jwt_in_request()
        if not current_user().is_admin:
            raise ApiError(403, "forbidden", "administrators only")
        return view(*args, **kwargs)

    return cast(F, wrapper)


def load_active_user(user_id: Any) -> User | None:
    """Return the active user with this id (tokens of deleted or disabled users fail)."""
    try:
        ident = int(user_id)
    except (TypeError, ValueError):
        return None
    if not is_row_id(ident):  # no such id; the database cannot even bind a wider one
        return None
    user = db.session.get(User, ident)
    return user if user is not None and user.is_active else None


def init_jwt(app: Flask) -> None:
    """Set up password hashing, the login throttles, identity handling and JWT error bodies."""
    init_throttle(app)
    app.extensions["itcook.passwords"] = _Passwords(
        app.config["ARGON2_TIME_COST"], app.config["ARGON2_MEMORY_KIB"], app.config["ARGON2_PARALLELISM"],
        app.config["PASSWORD_HASH_THREADS"])

    @jwt.user_identity_loader
    def _identity(user: User | int | str) -> str:
        return str(user.id if isinstance(user, User) else user)

    @jwt.additional_claims_loader
    def _claims(user: User | int | str) -> dict[str, str]:
        # Refresh passes the verified user too: every token names the key it was issued under.
        return {SESSION_CLAIM: user.session_key} if isinstance(user, User) else {}

    @jwt.token_in_blocklist_loader
    def _revoked_session(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
        # A token of an active user that carries another session key (or none) was issued
        # before its account's sessions ended (end_sessions), or to an earlier account. The
        # row stays in the session's identity map: the user lookup below costs no second query.
        user = load_active_user(payload.get("sub"))
        return user is not None and payload.get(SESSION_CLAIM) != user.session_key

    @jwt.user_lookup_loader
    def _lookup(_header: dict[str, Any], payload: dict[str, Any]) -> User | None:
        return load_active_user(payload.get("sub"))

    @jwt.user_lookup_error_loader
    def _lookup_error(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return error_response(401, "user_inactive",
                              gettext("the user of this token no longer exists or is disabled"))

    @jwt.expired_token_loader
    def _expired(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return error_response(401, "token_expired", gettext("the token has expired"))

    @jwt.invalid_token_loader
    def _invalid(reason: str) -> Response:
        return error_response(401, "invalid_token", gettext("invalid token: %(reason)s", reason=reason))

    @jwt.unauthorized_loader
    def _missing(reason: str) -> Response:
        return error_response(401, "missing_token", gettext(
            "the request has no access token (send Authorization: Bearer <token>)"))

    @jwt.needs_fresh_token_loader
    def _not_fresh(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return error_response(401, "fresh_token_required", gettext("a fresh token is required"))

    @jwt.revoked_token_loader
    def _revoked(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return error_response(401, "token_revoked", gettext("the token has been revoked"))
