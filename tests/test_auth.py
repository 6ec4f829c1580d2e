"""Auth routes: register, login, refresh, me, and every failure path."""

from __future__ import annotations

import datetime as dt

import jwt as pyjwt
import pytest
import requests

from itcook.extensions import db
from itcook.models import User
from tests.support.waiting import concurrently


def test_register_returns_user_and_tokens(client) -> None:
    response = client.post("/api/v1/auth/register",
                           json={"username": "anna", "password": "secret123", "display_name": "Anna"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["user"]["username"] == "anna" and body["user"]["display_name"] == "Anna"
    assert body["user"]["role"] == "user"
    assert body["access_token"] and body["refresh_token"]


def test_password_is_hashed_with_argon2(app, auth) -> None:
    auth.register("anna")
    with app.app_context():
        user = db.session.scalars(db.select(User)).one()
        assert user.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize("body, code", [
    ({"password": "secret123"}, "missing_field"),
    ({"username": "anna"}, "missing_field"),
    ({"username": "an", "password": "secret123"}, "invalid_field"),
    ({"username": "a" * 33, "password": "secret123"}, "invalid_field"),
    ({"username": "bad name", "password": "secret123"}, "invalid_field"),
    ({"username": "anna", "password": "short1"}, "invalid_field"),
    ({"username": "anna", "password": "lettersonly"}, "invalid_field"),
    ({"username": 5, "password": "secret123"}, "invalid_field"),
    ({"username": "anna", "password": "secret123", "display_name": "x" * 65}, "invalid_field"),
])
def test_register_validation(client, body, code) -> None:
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == code


def test_register_duplicate_is_409_case_insensitive(client, auth) -> None:
    auth.register("anna")
    response = client.post("/api/v1/auth/register", json={"username": "ANNA", "password": "secret123"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "username_taken"


def test_non_json_and_bad_json(client) -> None:
    response = client.post("/api/v1/auth/register", data="x", content_type="text/plain")
    assert response.status_code == 415
    response = client.post("/api/v1/auth/register", data="{not json", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"
    response = client.post("/api/v1/auth/register", json=[1, 2])
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


def test_oversized_body_is_json_413(app, client) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = client.post("/api/v1/auth/register", data="x" * 5000, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "request_entity_too_large"


def test_login_and_same_401_for_wrong_password_and_unknown_user(client, auth) -> None:
    auth.register("anna")
    ok = client.post("/api/v1/auth/login", json={"username": "anna", "password": "secret123"})
    assert ok.status_code == 200 and ok.get_json()["access_token"]
    wrong = client.post("/api/v1/auth/login", json={"username": "anna", "password": "nope12345"})
    unknown = client.post("/api/v1/auth/login", json={"username": "bob", "password": "secret123"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()


def test_me_and_refresh(client, auth) -> None:
    anna = auth.register("anna")
    me = client.get("/api/v1/auth/me", headers=anna["headers"])
    assert me.status_code == 200 and me.get_json()["username"] == "anna"
    refreshed = client.post("/api/v1/auth/refresh",
                            headers={"Authorization": f"Bearer {anna['refresh_token']}"})
    assert refreshed.status_code == 200
    again = client.get("/api/v1/auth/me",
                       headers={"Authorization": f"Bearer {refreshed.get_json()['access_token']}"})
    assert again.status_code == 200


def test_refresh_rejects_access_token_and_me_rejects_refresh(client, auth) -> None:
    anna = auth.register("anna")
    assert client.post("/api/v1/auth/refresh", headers=anna["headers"]).status_code == 401
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {anna['refresh_token']}"})
    assert response.status_code == 401


@pytest.mark.parametrize("header, code", [
    (None, "missing_token"),
    ("Bearer not-a-jwt", "invalid_token"),
    ("Basic abc", "missing_token"),
])
def test_me_bad_credentials(client, header, code) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == code


def test_forged_expired_and_deleted_user_tokens(app, client, auth) -> None:
    anna = auth.register("anna")
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(anna["user"]["id"]), "type": "access", "fresh": False, "jti": "x",
              "iat": now, "nbf": now}
    forged = pyjwt.encode({**claims, "exp": now + dt.timedelta(minutes=5)}, "wrong-key-" + "y" * 40, "HS256")
    expired = pyjwt.encode({**claims, "exp": now - dt.timedelta(minutes=1)},
                           app.config["JWT_SECRET_KEY"], "HS256")
    none_alg = pyjwt.encode({**claims, "exp": now + dt.timedelta(minutes=5)}, None, "none")
    for token, code in ((forged, "invalid_token"), (expired, "token_expired"),
                        (none_alg, "invalid_token")):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == code
    with app.app_context():
        db.session.delete(db.session.get(User, anna["user"]["id"]))
        db.session.commit()
    response = client.get("/api/v1/auth/me", headers=anna["headers"])
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "user_inactive"


def test_create_admin_cli_creates_and_promotes(app, runner, auth) -> None:
    result = runner.invoke(args=["itcook", "create-admin", "boss", "--password", "secret123"])
    assert result.exit_code == 0, result.output
    auth.register("anna")
    result = runner.invoke(args=["itcook", "create-admin", "anna", "--password", "ignored1"])
    assert "promoted" in result.output
    with app.app_context():
        roles = {u.username: u.role for u in db.session.scalars(db.select(User))}
    assert roles == {"boss": "admin", "anna": "admin"}


def test_simultaneous_registrations_of_one_name_in_any_case_make_one_user(app, live_server) -> None:
    names = ["anna", "Anna", "ANNA", "aNNa", "anNA", "AnNa"] * 2
    answers = concurrently(len(names), lambda i: requests.post(
        f"{live_server.url}/api/v1/auth/register", timeout=30,
        json={"username": names[i], "password": "secret123"}))
    assert sorted(r.status_code for r in answers) == [201] + [409] * (len(names) - 1)
    assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"username_taken"}
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 1
