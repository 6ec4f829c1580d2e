"""Recipes: jobs off the request, the local generator, the HTTP generator against a real server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
import requests
from flask import Flask
from gevent.event import Event
from gevent.greenlet import Greenlet
from gevent.pywsgi import WSGIServer

from itcook import create_app
from itcook.extensions import db
from itcook.models import FridgeItem, Recipe, RecipeJob, utcnow
from itcook.recipes import services
from itcook.recipes.generators import (
    GenerationError,
    HttpGenerator,
    LocalGenerator,
    make_generator,
    parse_draft,
)
from itcook.signals import recipe_generated
from tests.support.rest import Api
from tests.support.servers import make_test_config
from tests.support.waiting import concurrently, wait_for

GENERATE = "/api/v1/recipes/generate"
MODEL = "chef-test-1"
API_KEY = "sk-test-key"
RECIPE = {
    "title": "Garlic  chicken with rice",
    "ingredients": [{"name": "chicken", "amount": 300, "unit": "g"},
                    {"name": "rice", "amount": 150.5, "unit": "g"},
                    {"name": "salt", "amount": None, "unit": None}],
    "steps": ["Cook the rice.", "Fry the chicken.", "Serve together."],
}


# --- the fake chat-completions service ------------------------------------------------------

class ChatService:
    """A real HTTP server on a free loopback port that answers like chat/completions."""

    def __init__(self) -> None:
        self.mode = "ok"  # ok | 500 | not-json | bad-content | bad-shape | block
        self.requests: list[dict[str, Any]] = []
        self.release = Event()  # frees requests held by "block"
        self.server = WSGIServer(("127.0.0.1", 0), self, log=None, error_log=None)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/chat/completions"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.requests.append({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"],
                              "authorization": environ.get("HTTP_AUTHORIZATION"),
                              "content_type": environ.get("CONTENT_TYPE"), "json": json.loads(body)})
        if self.mode == "block":
            self.release.wait(timeout=30)  # the test's HTTP timeout is far shorter
        if self.mode == "500":
            return self._answer(start_response, "500 Internal Server Error", {"error": "boom"})
        if self.mode == "not-json":
            return self._answer(start_response, "200 OK", None, raw=b"<html>busy</html>")
        content = {"ok": json.dumps(RECIPE), "block": json.dumps(RECIPE), "bad-content": "Sure! Here it is",
                   "bad-shape": json.dumps({**RECIPE, "steps": []})}[self.mode]
        return self._answer(start_response, "200 OK", {
            "id": "chatcmpl-1", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}]})

    @staticmethod
    def _answer(start_response: Any, status: str, data: Any, raw: bytes | None = None) -> list[bytes]:
        payload = raw if raw is not None else json.dumps(data).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(payload)))])
        return [payload]

    def close(self) -> None:
        self.release.set()
        self.server.stop(timeout=5)


@pytest.fixture
def chat_service() -> Iterator[ChatService]:
    service = ChatService()
    yield service
    service.close()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/chat/completions"


# --- app configuration: local by default, HTTP for tests marked with use_http ----------------

@pytest.fixture
def http_settings() -> dict[str, Any] | None:
    """None: the local generator. ``use_http`` parametrizes it to the HTTP generator."""
    return None


def use_http(**settings: Any) -> pytest.MarkDecorator:
    """Run a test with the HTTP generator pointed at ``chat_service`` (``settings`` override)."""
    return pytest.mark.parametrize("http_settings", [settings], ids=["http"])


@pytest.fixture
def app_config(tmp_path: Any, request: pytest.FixtureRequest, http_settings: dict[str, Any] | None,
               monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if http_settings is None:
        return make_test_config(tmp_path)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # the loopback service must be reached directly
    service = request.getfixturevalue("chat_service")
    return make_test_config(tmp_path, **{
        "RECIPE_GENERATOR": "http", "RECIPE_HTTP_URL": service.url, "RECIPE_HTTP_MODEL": MODEL,
        "RECIPE_HTTP_API_KEY": API_KEY, "RECIPE_HTTP_TIMEOUT": 5.0, **http_settings})


@pytest.fixture(autouse=True)
def _join_jobs(request: pytest.FixtureRequest) -> Iterator[None]:
    """No job greenlet outlives its test (the app's database is disposed after it)."""
    # Requested here, so the app is torn down after this fixture's teardown.
    app = request.getfixturevalue("app") if "app" in request.fixturenames else None
    yield
    if app is None:
        return
    if "chat_service" in request.fixturenames:
        request.getfixturevalue("chat_service").release.set()
    jobs = app.extensions["itcook.recipes"].jobs
    for greenlet in list(jobs.values()):
        greenlet.join(timeout=10)
    assert not jobs


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[Greenlet]:
    """Every greenlet the recipes service spawns during the test."""
    greenlets: list[Greenlet] = []
    real_spawn = gevent.spawn

    def spawn(*args: Any, **kwargs: Any) -> Greenlet:
        greenlets.append(real_spawn(*args, **kwargs))
        return greenlets[-1]

    monkeypatch.setattr(services.gevent, "spawn", spawn)
    return greenlets


def wait_job(app: Flask, job_id: str) -> None:
    """Join the job's greenlet (bounded) instead of sleeping."""
    assert app.extensions["itcook.recipes"].wait(job_id, timeout=10), f"job {job_id} still running"


def generate(client: Any, headers: dict[str, str], app: Flask, ingredients: Any = None) -> dict[str, Any]:
    """POST /generate, expect 202, wait for the job and return its final state."""
    response = client.post(GENERATE, headers=headers,
                           json=None if ingredients is None else {"ingredients": ingredients})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "pending" and response.headers["Location"].endswith(body["job_id"])
    wait_job(app, body["job_id"])
    job = client.get(f"/api/v1/recipes/jobs/{body['job_id']}", headers=headers)
    assert job.status_code == 200
    return job.get_json()


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(db.select(db.func.count()).select_from(model)) or 0)


# --- the local generator ------------------------------------------------------------------------

def test_local_generator_is_deterministic_and_ignores_order_and_case() -> None:
    first = LocalGenerator().generate(["Chicken", "broccoli", "garlic", "rice"])
    again = LocalGenerator().generate(["  RICE", "garlic", "Broccoli ", "chicken", "rice"])
    assert first == again
    assert first != LocalGenerator().generate(["chicken", "broccoli", "garlic"])


@pytest.mark.parametrize("ingredients, style", [
    (["eggs"], "omelette"),
    (["spaghetti", "tomato", "basil", "parmesan", "garlic"], "pasta"),
    (["oats", "banana", "milk"], "porridge"),
    (["rice", "chicken", "peas"], None),
    (["apple", "banana", "strawberries"], None),
    (["bread", "avocado"], None),
    (["chicken", "potatoes", "carrot", "onion"], None),
    (["tofu", "noodles", "ginger", "soy sauce"], None),
    (["курица", "картофель", "лук"], None),
    (["something unknown"], None),
])
def test_local_generator_writes_a_sensible_recipe(ingredients: list[str], style: str | None) -> None:
    draft = LocalGenerator().generate(ingredients)
    assert parse_draft(dataclasses.asdict(draft)) == draft  # the shape every stored recipe has
    assert 4 <= len(draft.steps) <= 8
    if style:
        assert style in draft.title.lower()
    names = [item["name"] for item in draft.ingredients]
    text = " ".join([draft.title.lower(), *draft.steps])
    for ingredient in ingredients:
        assert ingredient in names  # listed, with an amount
        if ingredient != "soy sauce":
            assert ingredient in text  # and actually used
    for item in draft.ingredients:
        assert item["amount"] is None or item["amount"] > 0
        assert item["unit"]
    if "oats" not in ingredients and "apple" not in ingredients:
        assert "salt" in names  # pantry staples are added to savoury dishes


def test_local_generator_titles_name_the_main_ingredients() -> None:
    draft = LocalGenerator().generate(["onion", "chicken", "lettuce", "tomato"])
    assert draft.title.startswith("Chicken")


def test_local_generator_does_not_list_a_staple_twice() -> None:
    draft = LocalGenerator().generate(["eggs", "butter", "milk", "sea salt"])
    names = [item["name"] for item in draft.ingredients]
    assert names.count("butter") == 1 and names.count("milk") == 1
    assert "salt" not in names and "sea salt" in names


# --- POST /generate with the local generator ---------------------------------------------------

def test_generate_from_explicit_ingredients(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    job = generate(client, anna["headers"], app, ["Chicken", "broccoli", "rice"])
    assert job["status"] == "done" and isinstance(job["recipe_id"], int) and "error" not in job
    recipe = client.get(f"/api/v1/recipes/{job['recipe_id']}", headers=anna["headers"]).get_json()
    assert recipe["id"] == job["recipe_id"] and recipe["generator"] == "local"
    assert recipe["created_at"].endswith("Z")
    expected = LocalGenerator().generate(["Chicken", "broccoli", "rice"])
    assert (recipe["title"], recipe["ingredients"], recipe["steps"]) == \
        (expected.title, expected.ingredients, expected.steps)
    assert signals.named("recipe-generated") == [{"user_id": anna["user"]["id"], "job_id": job["job_id"],
                                                   "recipe_id": job["recipe_id"], "title": recipe["title"]}]
    assert signals.named("recipe-failed") == []
    with app.app_context():
        row = db.session.get(RecipeJob, job["job_id"])
        assert row.finished_at is not None and row.ingredients == ["Chicken", "broccoli", "rice"]


def test_signal_is_sent_in_the_transaction_that_finishes_the_job(app, client, auth) -> None:
    anna = auth.register("anna")
    seen: list[Any] = []

    def receiver(sender: Flask, **kwargs: Any) -> None:
        # The job's own session: the finished job and the recipe commit with the event.
        job = db.session.get(RecipeJob, kwargs["job_id"])
        seen.append((job.status, job.recipe_id, db.session.get(Recipe, kwargs["recipe_id"]).title))

    recipe_generated.connect(receiver, sender=app)
    try:
        job = generate(client, anna["headers"], app, ["eggs"])
    finally:
        recipe_generated.disconnect(receiver, sender=app)
    assert seen == [("done", job["recipe_id"], LocalGenerator().generate(["eggs"]).title)]


def test_a_failing_signal_receiver_fails_the_job_without_crashing(app, client, auth, spawned) -> None:
    anna = auth.register("anna")

    def broken(sender: Flask, **kwargs: Any) -> None:
        raise RuntimeError("realtime is down")

    recipe_generated.connect(broken, sender=app)
    try:
        response = client.post(GENERATE, headers=anna["headers"], json={"ingredients": ["eggs"]})
        [greenlet] = spawned
        greenlet.join(timeout=10)
    finally:
        recipe_generated.disconnect(broken, sender=app)
    assert greenlet.dead and greenlet.exception is None
    job = client.get(response.headers["Location"], headers=anna["headers"]).get_json()
    # Never "done" without its RecipeGenerated: the recipe's transaction did not commit.
    assert job["status"] == "failed" and "recipe_id" not in job


def test_same_ingredients_in_another_order_give_the_same_recipe(app, client, auth) -> None:
    anna = auth.register("anna")
    first = generate(client, anna["headers"], app, ["salmon", "Lemon", "dill", "potatoes"])
    second = generate(client, anna["headers"], app, ["potatoes", "DILL", "lemon", "Salmon"])
    a, b = (client.get(f"/api/v1/recipes/{job['recipe_id']}", headers=anna["headers"]).get_json()
            for job in (first, second))
    assert a["id"] != b["id"]
    assert (a["title"], a["ingredients"], a["steps"]) == (b["title"], b["ingredients"], b["steps"])


def _fridge(app: Flask, user_id: int, *items: tuple[str, int]) -> None:
    today = utcnow().date()
    with app.app_context():
        for name, days in items:
            db.session.add(FridgeItem(user_id=user_id, name=name, expires_on=today + dt.timedelta(days=days)))
        db.session.commit()


@pytest.mark.parametrize("kwargs", [{}, {"json": {}}, {"json": {"ingredients": None}}])
def test_generate_defaults_to_unexpired_fridge_items_soonest_first(app, client, auth, signals,
                                                                   kwargs) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    _fridge(app, anna["user"]["id"], ("spinach", 5), ("old milk", -1), ("eggs", 0), ("Feta", 2),
            ("EGGS", 9))
    _fridge(app, bob["user"]["id"], ("caviar", 1))
    response = client.post(GENERATE, headers=anna["headers"], **kwargs)
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    wait_job(app, job_id)
    with app.app_context():
        job = db.session.get(RecipeJob, job_id)
        assert job.ingredients == ["eggs", "Feta", "spinach"]
        assert job.status == "done"
        recipe = db.session.get(Recipe, job.recipe_id)
        assert recipe.title == LocalGenerator().generate(["eggs", "feta", "spinach"]).title
    assert len(signals.named("recipe-generated")) == 1


def test_generate_with_empty_fridge_is_400_no_ingredients(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    _fridge(app, anna["user"]["id"], ("old milk", -1))
    response = client.post(GENERATE, headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "no_ingredients"
    assert count(app, RecipeJob) == 0 and signals.calls == []


@pytest.mark.parametrize("body", [
    {"ingredients": "eggs"},
    {"ingredients": {"eggs": 1}},
    {"ingredients": 3},
    {"ingredients": []},
    {"ingredients": ["egg"] * 31},
    {"ingredients": [""]},
    {"ingredients": ["eggs", "   "]},
    {"ingredients": [5]},
    {"ingredients": [None]},
    {"ingredients": [True]},
    {"ingredients": [["eggs"]]},
    {"ingredients": [{"name": "eggs"}]},
    {"ingredients": ["a" * 101]},
    {"ingredients": ["eggs\x00"]},
])
def test_generate_validation(app, client, auth, signals, body) -> None:
    anna = auth.register("anna")
    response = client.post(GENERATE, headers=anna["headers"], json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_field"
    assert "ingredients" in response.get_json()["error"]["message"]
    assert count(app, RecipeJob) == 0 and signals.calls == []


def test_generate_accepts_the_limits(app, client, auth) -> None:
    anna = auth.register("anna")
    job = generate(client, anna["headers"], app, ["a" * 100] + [f"item {i}" for i in range(29)])
    assert job["status"] == "done"
    with app.app_context():
        assert len(db.session.get(RecipeJob, job["job_id"]).ingredients) == 30


@pytest.mark.parametrize("kwargs, status, code", [
    ({"data": "eggs", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ({"data": "{nope", "content_type": "application/json"}, 400, "invalid_json"),
    ({"json": ["eggs"]}, 400, "invalid_json"),
])
def test_generate_bad_body(app, client, auth, kwargs, status, code) -> None:
    anna = auth.register("anna")
    response = client.post(GENERATE, headers=anna["headers"], **kwargs)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert count(app, RecipeJob) == 0


def test_generator_crash_fails_the_job_without_escaping(app, client, auth, signals, spawned) -> None:
    class Broken:
        name = "local"

        def generate(self, ingredients: list[str]) -> Any:
            raise KeyError("bug")

    app.extensions["itcook.recipes"].generator = Broken()
    anna = auth.register("anna")
    response = client.post(GENERATE, headers=anna["headers"], json={"ingredients": ["eggs"]})
    [greenlet] = spawned
    greenlet.join(timeout=10)
    assert greenlet.dead and greenlet.exception is None
    job = client.get(response.headers["Location"], headers=anna["headers"]).get_json()
    assert job == {"job_id": job["job_id"], "status": "failed",
                   "error": "the recipe generator failed unexpectedly"}
    assert signals.named("recipe-failed") == [{"user_id": anna["user"]["id"], "job_id": job["job_id"],
                                               "error": job["error"]}]
    assert signals.named("recipe-generated") == [] and count(app, Recipe) == 0


def test_stale_pending_job_is_failed_once(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    with app.app_context():
        db.session.add(RecipeJob(id="0" * 36, user_id=anna["user"]["id"], status="pending",
                                 ingredients=["eggs"], created_at=utcnow() - dt.timedelta(hours=1)))
        db.session.commit()
    for _ in range(2):
        job = client.get(f"/api/v1/recipes/jobs/{'0' * 36}", headers=anna["headers"]).get_json()
        assert job["status"] == "failed" and "interrupted" in job["error"]
    assert signals.named("recipe-failed") == [{"user_id": anna["user"]["id"], "job_id": "0" * 36,
                                               "error": job["error"]}]


# --- reading jobs and recipes ------------------------------------------------------------------

def test_other_users_jobs_and_recipes_are_404(app, client, auth) -> None:
    anna, bob = auth.register("anna"), auth.register("bob")
    job = generate(client, anna["headers"], app, ["eggs"])
    for url in (f"/api/v1/recipes/jobs/{job['job_id']}", f"/api/v1/recipes/{job['recipe_id']}"):
        assert client.get(url, headers=anna["headers"]).status_code == 200
        response = client.get(url, headers=bob["headers"])
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/recipes", headers=bob["headers"]).get_json()["total"] == 0


@pytest.mark.parametrize("url", [
    "/api/v1/recipes/jobs/no-such-job",
    "/api/v1/recipes/jobs/" + "x" * 300,
    "/api/v1/recipes/999",
    f"/api/v1/recipes/{2**40}",
])
def test_unknown_job_or_recipe_is_404(client, auth, url) -> None:
    anna = auth.register("anna")
    response = client.get(url, headers=anna["headers"])
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_list_recipes_newest_first_and_paginated(app, client, auth) -> None:
    anna = auth.register("anna")
    ids = [generate(client, anna["headers"], app, [name])["recipe_id"] for name in ("eggs", "tofu", "kale")]
    listing = client.get("/api/v1/recipes", headers=anna["headers"]).get_json()
    assert [item["id"] for item in listing["items"]] == ids[::-1]
    assert listing["total"] == 3 and listing["page"] == 1
    assert set(listing["items"][0]) == {"id", "title", "ingredients", "steps", "generator", "created_at"}
    page = client.get("/api/v1/recipes?per_page=2&page=2", headers=anna["headers"]).get_json()
    assert [item["id"] for item in page["items"]] == [ids[0]] and page["per_page"] == 2
    bad = client.get("/api/v1/recipes?page=0", headers=anna["headers"])
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize("method, url", [
    ("post", GENERATE),
    ("get", "/api/v1/recipes/jobs/abc"),
    ("get", "/api/v1/recipes/1"),
    ("get", "/api/v1/recipes"),
])
def test_routes_need_a_token(client, method, url) -> None:
    response = getattr(client, method)(url, json={"ingredients": ["eggs"]} if method == "post" else None)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "missing_token"


# --- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize("settings, match", [
    ({"RECIPE_GENERATOR": "magic"}, "ITCOOK_RECIPE_GENERATOR"),
    ({"RECIPE_GENERATOR": "http", "RECIPE_HTTP_URL": ""}, "ITCOOK_RECIPE_HTTP_URL"),
    ({"RECIPE_GENERATOR": "http", "RECIPE_HTTP_URL": "file:///etc/passwd"}, "ITCOOK_RECIPE_HTTP_URL"),
    ({"RECIPE_GENERATOR": "http", "RECIPE_HTTP_URL": "http://x", "RECIPE_HTTP_TIMEOUT": 0.0},
     "ITCOOK_RECIPE_HTTP_TIMEOUT"),
    ({"RECIPE_GENERATOR": "http", "RECIPE_HTTP_URL": "http://x", "RECIPE_HTTP_MODEL": ""},
     "ITCOOK_RECIPE_HTTP_MODEL"),
])
def test_bad_generator_settings_fail_at_start(tmp_path, settings, match) -> None:
    with pytest.raises(ValueError, match=match):
        make_generator({"RECIPE_HTTP_MODEL": MODEL, "RECIPE_HTTP_TIMEOUT": 30.0, **settings})
    with pytest.raises(ValueError, match=match):
        create_app(make_test_config(tmp_path, **{"RECIPE_HTTP_MODEL": MODEL, **settings}))


def test_make_generator_picks_the_kind() -> None:
    assert isinstance(make_generator({"RECIPE_GENERATOR": "local"}), LocalGenerator)
    http = make_generator({"RECIPE_GENERATOR": "HTTP", "RECIPE_HTTP_URL": "https://ai.example/v1/chat/completions",
                           "RECIPE_HTTP_MODEL": MODEL, "RECIPE_HTTP_TIMEOUT": 7})
    assert isinstance(http, HttpGenerator) and http.timeout == 7.0 and http.api_key == ""


@pytest.mark.parametrize("data, where", [
    ([], "not a JSON object"),
    ({**RECIPE, "title": ""}, "title"),
    ({**RECIPE, "title": 5}, "title"),
    ({**RECIPE, "title": "x" * 201}, "title"),
    ({**RECIPE, "ingredients": []}, "ingredients"),
    ({**RECIPE, "ingredients": "rice"}, "ingredients"),
    ({**RECIPE, "ingredients": [{"name": "x", "amount": 1, "unit": "g"}] * 51}, "ingredients"),
    ({**RECIPE, "ingredients": ["rice"]}, "ingredients[0]"),
    ({**RECIPE, "ingredients": [{"amount": 1, "unit": "g"}]}, "ingredients[0].name"),
    ({**RECIPE, "ingredients": [{"name": "rice", "amount": "2", "unit": "g"}]}, "ingredients[0].amount"),
    ({**RECIPE, "ingredients": [{"name": "rice", "amount": -1, "unit": "g"}]}, "ingredients[0].amount"),
    ({**RECIPE, "ingredients": [{"name": "rice", "amount": True, "unit": "g"}]}, "ingredients[0].amount"),
    ({**RECIPE, "ingredients": [{"name": "rice", "amount": 1, "unit": 3}]}, "ingredients[0].unit"),
    ({**RECIPE, "steps": []}, "steps"),
    ({**RECIPE, "steps": ["ok", ""]}, "steps[1]"),
    ({**RECIPE, "steps": ["ok", {"text": "x"}]}, "steps[1]"),
    ({**RECIPE, "steps": ["ok"] * 21}, "steps"),
])
def test_parse_draft_is_strict(data, where) -> None:
    with pytest.raises(GenerationError, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_draft(data)


# --- the HTTP generator against a real server ---------------------------------------------------

@use_http()
def test_http_generator_stores_the_service_recipe(app, client, auth, signals, chat_service) -> None:
    anna = auth.register("anna")
    job = generate(client, anna["headers"], app, ["chicken", "rice"])
    assert job["status"] == "done"
    [request] = chat_service.requests
    assert request["method"] == "POST" and request["path"] == "/v1/chat/completions"
    assert request["authorization"] == f"Bearer {API_KEY}"
    assert request["content_type"] == "application/json"
    sent = request["json"]
    assert sent["model"] == MODEL and sent["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]
    assert '["chicken", "rice"]' in sent["messages"][1]["content"]
    recipe = client.get(f"/api/v1/recipes/{job['recipe_id']}", headers=anna["headers"]).get_json()
    assert recipe["generator"] == "http" and recipe["title"] == "Garlic chicken with rice"
    assert recipe["ingredients"] == [{"name": "chicken", "amount": 300, "unit": "g"},
                                     {"name": "rice", "amount": 150.5, "unit": "g"},
                                     {"name": "salt", "amount": None, "unit": ""}]
    assert recipe["steps"] == RECIPE["steps"]
    assert signals.named("recipe-generated") == [{"user_id": anna["user"]["id"], "job_id": job["job_id"],
                                                   "recipe_id": job["recipe_id"], "title": recipe["title"]}]


@use_http(RECIPE_HTTP_API_KEY="")
def test_http_generator_without_key_sends_no_authorization(app, client, auth, chat_service) -> None:
    anna = auth.register("anna")
    assert generate(client, anna["headers"], app, ["eggs"])["status"] == "done"
    assert chat_service.requests[0]["authorization"] is None


@pytest.mark.parametrize("mode, error", [
    ("500", "answered HTTP 500"),
    ("not-json", "not JSON"),
    ("bad-content", "message is not valid JSON"),
    ("bad-shape", "invalid recipe: steps"),
])
@use_http()
def test_http_generator_bad_answers_fail_the_job(app, client, auth, signals, chat_service, mode,
                                                 error) -> None:
    chat_service.mode = mode
    anna = auth.register("anna")
    job = generate(client, anna["headers"], app, ["eggs"])
    assert job["status"] == "failed" and error in job["error"] and "recipe_id" not in job
    assert signals.named("recipe-failed") == [{"user_id": anna["user"]["id"], "job_id": job["job_id"],
                                               "error": job["error"]}]
    assert signals.named("recipe-generated") == [] and count(app, Recipe) == 0
    with app.app_context():
        assert db.session.get(RecipeJob, job["job_id"]).finished_at is not None


@use_http(RECIPE_HTTP_TIMEOUT=0.3)
def test_http_generator_timeout_fails_the_job(app, client, auth, signals, chat_service) -> None:
    chat_service.mode = "block"  # held until teardown, far past the 0.3 s timeout
    anna = auth.register("anna")
    job = generate(client, anna["headers"], app, ["eggs"])
    assert job["status"] == "failed" and job["error"] == "the recipe service did not answer within 0.3 s"
    assert len(chat_service.requests) == 1
    assert signals.named("recipe-failed") == [{"user_id": anna["user"]["id"], "job_id": job["job_id"],
                                               "error": job["error"]}]
    assert signals.named("recipe-generated") == [] and count(app, Recipe) == 0


@use_http(RECIPE_HTTP_URL=_closed_port_url())
def test_http_generator_unreachable_fails_the_job(app, client, auth, signals) -> None:
    anna = auth.register("anna")
    job = generate(client, anna["headers"], app, ["eggs"])
    assert job["status"] == "failed" and job["error"].startswith("the recipe service is unreachable")
    assert signals.named("recipe-failed") == [{"user_id": anna["user"]["id"], "job_id": job["job_id"],
                                               "error": job["error"]}]
    assert signals.named("recipe-generated") == [] and count(app, Recipe) == 0


@use_http()
def test_too_many_pending_jobs_is_429(app, client, auth, signals, chat_service) -> None:
    chat_service.mode = "block"
    anna, bob = auth.register("anna"), auth.register("bob")
    started = [client.post(GENERATE, headers=anna["headers"], json={"ingredients": [f"item {i}"]})
               for i in range(3)]
    assert [r.status_code for r in started] == [202, 202, 202]
    response = client.post(GENERATE, headers=anna["headers"], json={"ingredients": ["eggs"]})
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "too_many_jobs"
    other = client.post(GENERATE, headers=bob["headers"], json={"ingredients": ["eggs"]})
    assert other.status_code == 202  # the limit is per user
    assert count(app, RecipeJob) == 4 and signals.calls == []
    jobs = [r.get_json()["job_id"] for r in started]
    assert {client.get(f"/api/v1/recipes/jobs/{j}", headers=anna["headers"]).get_json()["status"]
            for j in jobs} == {"pending"}
    chat_service.release.set()
    for job_id in [*jobs, other.get_json()["job_id"]]:
        wait_job(app, job_id)
    assert len(signals.named("recipe-generated")) == 4
    assert client.post(GENERATE, headers=anna["headers"], json={"ingredients": ["eggs"]}).status_code == 202


@use_http(RECIPE_HTTP_TIMEOUT=30.0)
def test_a_burst_of_generations_never_passes_the_pending_limit(app, live_server, chat_service) -> None:
    chat_service.mode = "block"  # every accepted job stays pending, holding its slot
    api = Api(live_server)
    anna = api.register("anna")
    answers = concurrently(40, lambda i: requests.post(
        f"{api.base}/recipes/generate", headers=anna["headers"], json={"ingredients": [f"item {i}"]},
        timeout=30).status_code)
    limit = services.MAX_PENDING_JOBS
    assert sorted(answers) == [202] * limit + [429] * (40 - limit)
    assert count(app, RecipeJob) == limit
    # Only the accepted jobs reach the (possibly paid) generator.
    wait_for(lambda: len(chat_service.requests) == limit, what="the accepted jobs' generator calls")
    chat_service.release.set()
    for job_id in list(app.extensions["itcook.recipes"].jobs):
        wait_job(app, job_id)
    assert len(chat_service.requests) == limit
