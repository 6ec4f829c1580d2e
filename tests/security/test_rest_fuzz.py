"""REST input as a property: random bodies, query strings, path ids and credentials sent to
every route of the app (found in its URL map, so a new route is fuzzed too).

Whatever arrives, the answer is never a 5xx, and every 4xx is the JSON error shape of the
docs/api.md ("Errors"): ``{"error": {"code": str, "message": str}}`` with ``application/json``.
The app is driven in-process through Flask's test client (the same WSGI app the server runs,
without the network), so a few hundred requests take a few seconds.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter

from tests.support.fuzz import fuzz_settings

# Streams (they take the socket over; fuzzed over the network elsewhere) and static files.
SKIP_ENDPOINTS = {"static", "realtime.ws", "realtime.sse_stream"}
FIELDS = ["author_id", "channels", "days", "description", "display_name", "endpoint", "event_types",
          "expires_on", "ids", "ingredients", "keys", "level", "message", "name", "open", "password",
          "quantity", "target_value", "title", "unit", "up_to_id", "user_id", "username", "value",
          "content", "unread", "mine", "p256dh", "auth"]
PARAMS = ["page", "per_page", "days", "author_id", "mine", "unread", "open", "last_event_id", "ticket",
          "channels", "limit", "q"]
ANY_CHAR = st.characters(exclude_categories=())  # lone surrogates included (as JSON escapes)

texts = st.one_of(
    st.text(max_size=12),
    st.text(ANY_CHAR, max_size=12),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "\udfff\ud800", "2030-01-01", "9999-12-31",
                     "0000-00-00", "2030-02-30", "info", "admin", "secret123", "anna", "x" * 300,
                     "\u202e", "\ufeff", "NaN", "1e400", "<script>", "' OR 1=1 --"]),
)
numbers = st.one_of(
    st.integers(), st.floats(), st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**20,
                                                 1e9, 1e9 + 1, 1e308, -1e308, 0.5, True, False]),
    st.integers(min_value=10**300, max_value=10**310),
)
scalars = st.one_of(st.none(), texts, numbers)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), inner, max_size=4),
                      max_leaves=10)
bodies = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6),
    values,
)


def _raw(body: Any) -> bytes:
    try:
        return json.dumps(body).encode()
    except (ValueError, TypeError):
        return b"{}"


raw_bodies = st.one_of(
    bodies.map(_raw),
    st.binary(max_size=40),
    st.sampled_from([b"", b"null", b"{", b"[" * 5000 + b"]" * 5000, b'{"a":' * 2000 + b"1" + b"}" * 2000,
                     b"\xff\xfe", b'{"content": "\xed\xa0\x80"}', b'{"title": 1e999}', b"\x00" * 10,
                     b'{"username": "a", "username": "b"}']),
    st.integers(1, 5000).map(lambda n: b'{"value": ' + b"9" * n + b"}"),
)
# Valid bodies of the documented routes (docs/api.md): a valid body with one
# field made hostile gets past the first checks and reaches the deeper ones (and the database).
valid_username = st.from_regex(r"[a-z][a-z0-9_.-]{2,20}", fullmatch=True)
VALID: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "auth.register": {"username": valid_username, "password": st.just("secret123"),
                      "display_name": st.text(min_size=1, max_size=10)},
    "auth.login": {"username": valid_username, "password": st.just("secret123")},
    "community.create_post": {"content": st.text(min_size=1, max_size=20)},
    "community.add_comment": {"content": st.text(min_size=1, max_size=20)},
    "fridge.add_item": {"name": st.text(min_size=1, max_size=10), "quantity": st.integers(1, 100),
                        "unit": st.sampled_from(["g", "kg"]), "expires_on": st.just("2030-01-01")},
    "goals.add_goal": {"title": st.text(min_size=1, max_size=10), "target_value": st.integers(1, 100),
                       "unit": st.just("km")},
    "goals.progress": {"value": st.integers(1, 100)},
    "recipes.generate": {"ingredients": st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=3)},
    "admin.send_notification": {"title": st.text(min_size=1, max_size=10), "message": st.just("m"),
                                "level": st.sampled_from(["info", "error"]), "user_id": st.just(1)},
}
HOSTILE = st.one_of(
    st.sampled_from(["\ud800", "a\udfffb", "a\x00b", "\x00", "x" * 10000, "", " ", "\u202e\u0000",
                     10**400, -(10**400), 2**63, 2**64, 10**20, -1, 0, 1e308, True, None, [], {}, [None],
                     ["\ud800"], ["a\x00"], ["x"] * 100, {"a": 1}, "2030-13-45", "9999-99-99"]),
    values,
)


@st.composite
def schema_body(draw: Any, endpoint: str) -> bytes:
    fields = VALID[endpoint]
    body = {name: draw(strategy) for name, strategy in fields.items()}
    target = draw(st.sampled_from([*fields, "unexpected"]))
    if draw(st.integers(0, 5)) == 0:
        body.pop(target, None)
    else:
        body[target] = draw(HOSTILE)
    return _raw(body)


content_types = st.sampled_from(["application/json", "application/json", "application/json", "text/plain",
                                 None, "application/json; charset=latin-1", "multipart/form-data"])
# A URL carries UTF-8 only: no lone surrogates in query strings.
queries = st.dictionaries(st.sampled_from(PARAMS), st.one_of(
    texts.filter(lambda t: not any(0xD800 <= ord(c) <= 0xDFFF for c in t)), numbers.map(str),
    st.sampled_from(["\u0661", "+5", "5_000", " 3 ", "-0", "1.5", "0x10"])), max_size=3)


def _route_strategy(app: Any, protected: set[int], throwaway: list[int]) -> st.SearchStrategy[Any]:
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in SKIP_ENDPOINTS]
    documented = [r for r in rules if r.endpoint in VALID]  # drawn more often: they go deeper
    ids = st.one_of(st.sampled_from(throwaway), st.sampled_from([0, 1, 2, 999_999, 2**31, 2**63 - 1, 2**63,
                                                                 10**20, 10**40]),
                    st.integers(min_value=0)).filter(lambda i: i not in protected)

    @st.composite
    def route(draw: Any) -> tuple[str, str, bytes]:
        rule = draw(st.sampled_from(rules) | st.sampled_from(documented))
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        method = draw(st.one_of(st.sampled_from(methods), st.sampled_from(["GET", "POST", "PUT", "DELETE",
                                                                             "PATCH"])))
        path = rule.rule
        for part in rule.rule.split("<")[1:]:  # "<int:post_id>", "<job_id>"
            spec = part.split(">", 1)[0]
            converter = rule._converters[spec.split(":")[-1]]
            if isinstance(converter, IntegerConverter):
                value = str(draw(ids))
            else:
                value = quote(draw(st.text(min_size=1, max_size=40)), safe="")
            path = path.replace(f"<{spec}>", value, 1)
        if rule.endpoint in VALID and draw(st.integers(0, 3)):
            body = draw(schema_body(rule.endpoint))
        else:
            body = draw(raw_bodies)
        return method, path, body

    return route()


def test_every_route_answers_bad_input_with_a_json_4xx(app, client, auth) -> None:
    user = auth.register("fuzzuser")
    admin = auth.admin(app, "fuzzadmin")
    throwaway = [auth.register(f"spare{i}")["user"]["id"] for i in range(3)]
    post = client.post("/api/v1/community/posts", headers=user["headers"], json={"content": "target"})
    assert post.status_code == 201
    protected = {user["user"]["id"], admin["user"]["id"]}
    headers = st.sampled_from([user["headers"], user["headers"], admin["headers"], {},
                               {"Authorization": "Bearer x.y.z"}, {"Authorization": "Basic Zm9vOmJhcg=="},
                               {"Authorization": f"Bearer {user['refresh_token']}"}])
    seen: dict[int, int] = {}

    @fuzz_settings(400)
    @given(route=_route_strategy(app, protected, throwaway), content_type=content_types,
           query=queries, auth_headers=headers)
    def prop(route: tuple[str, str, bytes], content_type: str | None, query: dict[str, str],
             auth_headers: dict[str, str]) -> None:
        method, path, body = route
        extra = dict(auth_headers)
        if content_type:
            extra["Content-Type"] = content_type
        response = client.open(path, method=method, data=body, query_string=query, headers=extra)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        detail = (method, path, query, body[:200], response.status_code, response.data[:300])
        assert response.status_code < 500, detail
        if response.status_code >= 400:
            assert response.mimetype == "application/json", detail
            error = response.get_json()["error"]
            assert isinstance(error["code"], str) and error["code"], detail
            assert isinstance(error["message"], str), detail
        if response.status_code == 405:
            assert response.headers.get("Allow"), detail

    prop()
    # Not vacuous: successes and the usual refusals were all reached.
    assert any(200 <= s < 300 for s in seen) and {400, 401, 404} <= set(seen), seen


# Every field of every documented body, one hostile value at a time (the rest valid): the grid
# the random property samples from, in full. A value may be accepted (a null optional field),
# never answered with a 5xx, and never accepted only to fail later (a recipe job).
GRID_VALUES = ["\ud800", "a\udfffb", "a\x00b", "x" * 10000, "", " ", 10**400, -(10**400), 2**63, 10**20,
               -1, 0, 1e308, True, None, [], {}, ["\ud800"], ["a\x00"], "2030-13-45", "1e400"]


def _valid_body(endpoint: str, n: int) -> dict[str, Any]:
    bodies: dict[str, dict[str, Any]] = {
        "auth.register": {"username": f"grid{n}", "password": "secret123", "display_name": "G"},
        "auth.login": {"username": "fuzzuser", "password": "secret123"},
        "community.create_post": {"content": "c"},
        "community.add_comment": {"content": "c"},
        "fridge.add_item": {"name": "egg", "quantity": 2, "unit": "g", "expires_on": "2030-01-01"},
        "goals.add_goal": {"title": "t", "target_value": 5, "unit": "km"},
        "goals.progress": {"value": 1},
        "recipes.generate": {"ingredients": ["egg"]},
        "admin.send_notification": {"title": "t", "message": "m", "level": "info", "user_id": 1},
    }
    return dict(bodies[endpoint])


def test_every_documented_field_refuses_each_hostile_value(app, client, auth) -> None:
    user = auth.register("fuzzuser")
    admin = auth.admin(app, "fuzzadmin")
    post = client.post("/api/v1/community/posts", headers=user["headers"], json={"content": "p"}).get_json()
    goal = client.post("/api/v1/goals", headers=user["headers"], json={"title": "g", "target_value": 10**6})
    paths = {"auth.register": "/api/v1/auth/register", "auth.login": "/api/v1/auth/login",
             "community.create_post": "/api/v1/community/posts",
             "community.add_comment": f"/api/v1/community/posts/{post['id']}/comments",
             "fridge.add_item": "/api/v1/fridge/items", "goals.add_goal": "/api/v1/goals",
             "goals.progress": f"/api/v1/goals/{goal.get_json()['id']}/progress",
             "recipes.generate": "/api/v1/recipes/generate",
             "admin.send_notification": "/api/v1/admin/notifications"}
    assert set(paths) == set(VALID)
    jobs = []
    n = 0
    for endpoint, path in paths.items():
        headers = admin["headers"] if endpoint.startswith("admin.") else user["headers"]
        for field in _valid_body(endpoint, 0):
            for value in GRID_VALUES:
                n += 1
                body = {**_valid_body(endpoint, n), field: value}
                response = client.post(path, data=json.dumps(body), headers={
                    **headers, "Content-Type": "application/json"})
                detail = (endpoint, field, repr(value)[:40], response.status_code, response.data[:200])
                assert response.status_code < 500, detail
                if response.status_code >= 400:
                    assert response.get_json()["error"]["code"], detail
                elif endpoint == "recipes.generate":
                    jobs.append((response.get_json()["job_id"], detail))
                    _wait_for_jobs(client, headers, jobs)


def _wait_for_jobs(client: Any, headers: dict[str, str], jobs: list[tuple[str, Any]]) -> None:
    """Accepted generations must succeed: bad input is refused up front, not in the job."""
    from tests.support.waiting import wait_for

    for job_id, detail in jobs:
        state: dict[str, Any] = {}

        def finished(job_id: str = job_id, state: dict[str, Any] = state) -> bool:
            state.update(client.get(f"/api/v1/recipes/jobs/{job_id}", headers=headers).get_json())
            return state["status"] != "pending"

        wait_for(finished, timeout=10, what="the recipe job")
        assert state["status"] == "done", (state, detail)
    jobs.clear()


DEEP_BODIES = [b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000 + b"1" + b"}" * 3000]


def test_every_route_refuses_json_nested_past_the_recursion_limit(app, client, auth) -> None:
    """json.loads raises RecursionError (not a ValueError) on such a body: still a JSON 400."""
    user = auth.register("deepuser")
    post = client.post("/api/v1/community/posts", headers=user["headers"], json={"content": "p"})
    assert post.status_code == 201
    parsed_bodies = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        path = rule.rule
        for part in rule.rule.split("<")[1:]:
            spec = part.split(">", 1)[0]
            path = path.replace(f"<{spec}>", "1", 1)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS", "GET"}):
            for body in DEEP_BODIES:
                response = client.open(path, method=method, data=body, headers={
                    **user["headers"], "Content-Type": "application/json"})
                assert response.status_code < 500, (method, path, response.data[:200])
                if response.status_code >= 400:
                    assert response.get_json()["error"]["code"], (method, path)
                if (method, rule.rule) == ("POST", "/api/v1/community/posts"):  # a body it parses
                    assert (response.status_code, response.get_json()["error"]["code"]) == (
                        400, "invalid_json"), response.get_json()
                    parsed_bodies += 1
    assert parsed_bodies == len(DEEP_BODIES)


def test_an_id_past_every_key_is_refused_by_routing_on_every_route(app, client, auth) -> None:
    """Keys are 32-bit on PostgreSQL, which refuses to bind a wider value (it was a 500 there):
    no route takes such an id, whatever the method, and the JSON inbox ids stay 64-bit."""
    admin = auth.admin(app, "wideadmin")
    rules = [r for r in app.url_map.iter_rules() if "<int:" in r.rule]
    assert len(rules) >= 20
    for ident in (2**31, 2**63 - 1):
        for rule in rules:
            path = "/".join(str(ident) if part.startswith("<int:") else part for part in rule.rule.split("/"))
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(path, method=method, headers=admin["headers"], json={})
                # 405 where Werkzeug matched the path's shape under another method first.
                code = {404: "not_found", 405: "method_not_allowed"}.get(response.status_code)
                assert code is not None, (method, path, response.status_code)
                assert response.get_json()["error"]["code"] == code, (method, path)
    response = client.post("/api/v1/notifications/read", headers=admin["headers"],
                           json={"up_to_id": 2**63 - 1})
    assert response.status_code == 200, response.get_json()
