"""A small Flask app that is not IT Cook, as a new user of the plugin would write it.

A to-do list with its own ``SQLAlchemy()`` instance, its own ``accounts`` table with string
ids, its own tokens (itsdangerous, no flask-jwt-extended), its own blinker signal, its own
flask-sock route and its own ``/metrics``. It uses only the public API of ``itcook.realtime``.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask_sock import Sock
from flask_sqlalchemy import SQLAlchemy
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from itcook.realtime import Credential, Principal, Realtime, RealtimeError, int_key

store = SQLAlchemy()
realtime = Realtime()
sock = Sock()
bp = Blueprint("todo", __name__)
todo_added = Namespace().signal("todo-added")


class Account(store.Model):
    """A user of the to-do app: a string id, a name, and whether it may still sign in."""

    __tablename__ = "accounts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)


class Todo(store.Model):
    """One item of an account's list."""

    __tablename__ = "todos"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"))
    title: Mapped[str] = mapped_column(String(200))


class RoomMember(store.Model):
    """Who may listen to the ``room:<name>`` channel."""

    __tablename__ = "room_members"
    room: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)


def _tokens() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="todo-token")


def authenticate(token: str) -> Credential:
    """The plugin's authenticate callback: the app's own signed tokens."""
    try:
        return Credential(_tokens().loads(token))
    except BadSignature:
        raise RealtimeError(401, "invalid_token", "not a to-do token") from None


def load_account(account_id: Any) -> Principal | None:
    """The plugin's principal loader: active accounts only."""
    account = store.session.get(Account, account_id) if isinstance(account_id, str) else None
    return Principal(account.id, account.name) if account is not None and account.active else None


def is_member(account_id: str, room: str) -> bool:
    """The ``room:<name>`` authorizer."""
    return store.session.get(RoomMember, (room, account_id)) is not None


def announce(sender: Flask, todo: Todo) -> None:
    """Receiver of ``todo_added``: the owner hears of it, in the transaction that adds it."""
    realtime.publish(f"user:{todo.owner_id}", "TodoAdded", {"id": todo.id, "title": todo.title})


def _me() -> Account:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        account = store.session.get(Account, _tokens().loads(token))
    except BadSignature:
        abort(401)
    if account is None:
        abort(401)
    return account


@bp.post("/login")
def login() -> Response:
    """A token for an account (no passwords in this small app)."""
    return jsonify(token=_tokens().dumps(request.get_json()["account"]))


@bp.post("/todos")
def add_todo() -> tuple[Response, int]:
    """Add an item; its owner's streams hear ``TodoAdded`` once it is committed."""
    todo = Todo(owner_id=_me().id, title=request.get_json()["title"])
    store.session.add(todo)
    store.session.flush()
    todo_added.send(current_app._get_current_object(), todo=todo)
    store.session.commit()
    return jsonify(id=todo.id), 201


@bp.post("/rooms/<room>/messages")
def say(room: str) -> tuple[Response, int]:
    """Say something in a room: an event type the plugin never heard of, on a custom channel."""
    event = realtime.publish(f"room:{room}", "RoomMessage", {"by": _me().id, **request.get_json()})
    # _me() opened a transaction of db.session: the event joined it and goes out at its commit.
    store.session.commit()
    return jsonify(id=event.id), 201


@bp.get("/metrics")
def metrics() -> Response:
    """The app's own metrics: the plugin must not shadow them."""
    return Response("todo_items_total 0\n", content_type="text/plain")


@sock.route("/echo")
def echo(ws: Any) -> None:
    """The app's own flask-sock route, with the app's SOCK_SERVER_OPTIONS."""
    ws.send(ws.receive(timeout=5).upper())


def create_app(database_url: str, **config: Any) -> Flask:
    """The to-do app on ``database_url``, with the plugin mounted at /api/v1/realtime."""
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI=database_url, SECRET_KEY="todo-secret",
                      SOCK_SERVER_OPTIONS={"subprotocols": ["todo.v1"]},
                      # A Celery-style setting of the host's own: none of the plugin's business.
                      BROKER_URL="amqp://guest@localhost//", **config)
    store.init_app(app)
    realtime.init_app(app, db=store, authenticate=authenticate, principal_loader=load_account)
    realtime.register_channel(app, "room", is_member, denied_code="forbidden_channel", key=str)
    realtime.register_channel(app, "chat-room", lambda account, number: number < 100, key=int_key)
    todo_added.connect(announce, sender=app)
    app.register_blueprint(bp)
    sock.init_app(app)
    with app.app_context():
        store.create_all()
    return app
