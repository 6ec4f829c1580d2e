"""``Realtime.init_app`` for hosts of every shape: settings, a bare engine, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from gevent.pywsgi import WSGIServer
from sqlalchemy import create_engine

from itcook.realtime import Credential, Realtime
from tests.support.ws import ws_connect


def test_settings_are_the_defaults_then_realtime_config_then_options() -> None:
    app = Flask(__name__)
    # BROKER_URL is not the plugin's (a Celery-style setting of the host): it is ignored.
    app.config.update(REALTIME_HEARTBEAT_INTERVAL=7.0, BROKER_URL="amqp://elsewhere//")
    rt = Realtime(idle_timeout=9.0)
    rt.init_app(app, engine=create_engine("sqlite://"))
    config = rt.state(app).config
    assert (config["heartbeat_interval"], config["idle_timeout"]) == (7.0, 9.0)
    assert config["broker_url"] == "memory://" and config["sse_retry_ms"] == 3000
    assert "/metrics" not in {rule.rule for rule in app.url_map.iter_rules()}  # root: opt-in


def test_init_app_refuses_what_it_cannot_use() -> None:
    with pytest.raises(TypeError, match="db=<Flask-SQLAlchemy> or engine="):
        Realtime(Flask(__name__))
    with pytest.raises(TypeError, match="unknown realtime option.*heartbeat_intervall"):
        Realtime(Flask(__name__), engine=create_engine("sqlite://"), heartbeat_intervall=5)
    app = Flask(__name__)
    app.add_url_rule("/metrics", "own_metrics", lambda: "mine")
    with pytest.raises(RuntimeError, match="already serves /metrics"):
        Realtime(app, engine=create_engine("sqlite://"), root_metrics=True)
    app = Flask(__name__)
    rt = Realtime(app, engine=create_engine("sqlite://"))
    for prefix in ("Room", "user", "a:b"):
        with pytest.raises(ValueError, match="channel kind"):
            rt.register_channel(app, prefix, lambda user, key: True)


def test_a_host_without_flask_sqlalchemy_logs_and_replays_through_its_engine(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/bare.db")
    app = Flask(__name__)
    rt = Realtime(app, engine=engine, authenticate=lambda token: Credential(token))
    rt.register_channel(app, "room", lambda user, room: True, key=str)
    Realtime.metadata(app).create_all(engine)
    with app.app_context():
        first = rt.publish("room:lobby", "Knock", {"n": 1})
        rt.publish("room:lobby", "Knock", {"n": 2})
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    server.port = server.server_port
    try:
        client = ws_connect(server, "carol", query=f"?channels=room:lobby&last_event_id={first.id}")
        frame = client.recv_type("Knock")
        assert (frame["id"], frame["data"]) == (first.id + 1, {"n": 2})
        assert client.recv_type("Recovery")["data"]["replayed"] == 1
        client.close()
    finally:
        rt.shutdown(app)
        server.stop(timeout=2)


def test_without_an_authenticator_or_a_jwt_manager_bearer_tokens_are_refused() -> None:
    """flask-jwt-extended is installed here, but this app never set it up: a clear 401."""
    app = Flask(__name__)
    Realtime(app, engine=create_engine("sqlite://"))
    response = app.test_client().post("/api/v1/realtime/ticket", headers={"Authorization": "Bearer x"})
    assert response.status_code == 401
    assert response.get_json()["error"] == {"code": "invalid_token",
                                            "message": "this server accepts no bearer tokens"}
