"""Russian and English (docs/i18n.md): the same error codes with texts in the reader's language,
the user's setting before the browser's, and a catalog that has every text of the code."""

from __future__ import annotations

import ast
import pathlib
import re
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask

from itcook import i18n, live

ROOT = pathlib.Path(__file__).resolve().parent.parent
RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


def _error(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.get_json()
    return response.get_json()["error"]


def _both(client: Any, method: str, path: str, status: int, headers: dict[str, str] | None = None,
          **kwargs: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The error of the same request asked in English and in Russian."""
    call = getattr(client, method)
    en = _error(call(path, headers={**(headers or {}), **EN}, **kwargs), status)
    ru = _error(call(path, headers={**(headers or {}), **RU}, **kwargs), status)
    return en, ru


@pytest.mark.parametrize(("method", "path", "status", "body", "english", "russian"), [
    ("get", "/api/v1/community/posts/999", 404, None, "post not found", "пост не найден"),
    ("post", "/api/v1/community/posts", 400, {"content": "x" * 100_000},
     "content: must be at most 5000 characters long (this one has 100000)",
     "content: слишком длинно: символов должно быть не больше 5000 (здесь 100000)"),
    ("post", "/api/v1/community/posts", 400, {}, "content is required", "content: обязательное поле"),
    ("post", "/api/v1/goals", 400, {"title": "Run", "target_value": 0},
     "target_value: must be greater than 0", "target_value: нужно больше 0"),
    ("get", "/api/v1/no-such-route", 404, None, "no such resource", "такого ресурса нет"),
])
def test_russian_errors_keep_their_codes(client, auth, method, path, status, body, english,
                                         russian) -> None:
    anna = auth.register("anna")
    en, ru = _both(client, method, path, status, anna["headers"], json=body)
    assert en["code"] == ru["code"]
    assert (en["message"], ru["message"]) == (english, russian)


def test_errors_before_any_user_is_known_follow_the_header(client) -> None:
    en, ru = _both(client, "get", "/api/v1/auth/me", 401)
    assert en["code"] == ru["code"] == "missing_token"
    assert ru["message"].startswith("в запросе нет токена доступа")
    en, ru = _both(client, "post", "/api/v1/auth/login", 401,
                   json={"username": "nobody", "password": "secret123"})
    assert en["code"] == ru["code"] == "invalid_credentials"
    assert (en["message"], ru["message"]) == ("wrong username or password",
                                              "неверное имя пользователя или пароль")


def test_no_header_and_no_setting_is_english(client, auth) -> None:
    anna = auth.register("anna")
    error = _error(client.get("/api/v1/community/posts/999", headers=anna["headers"]), 404)
    assert error["message"] == "post not found"
    unknown = {**anna["headers"], "Accept-Language": "de-DE, fr;q=0.5"}
    assert _error(client.get("/api/v1/community/posts/999", headers=unknown), 404)["message"] == \
        "post not found"


def test_notifications_read_in_the_readers_language_with_the_same_type(client, auth) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    client.post(f"/api/v1/community/users/{anna['user']['id']}/follow", headers=boris["headers"])
    post = client.post("/api/v1/community/posts", json={"content": "Borscht"},
                       headers=anna["headers"]).get_json()
    client.post(f"/api/v1/community/posts/{post['id']}/like", headers=boris["headers"])
    en = client.get("/api/v1/notifications", headers={**anna["headers"], **EN}).get_json()["items"]
    ru = client.get("/api/v1/notifications", headers={**anna["headers"], **RU}).get_json()["items"]
    assert [n["type"] for n in en] == [n["type"] for n in ru] == ["PostLiked", "NewFollower"]
    assert [(n["title"], n["body"]) for n in en] == [("New like", "boris liked your post"),
                                                     ("New follower", "boris follows you now")]
    assert [(n["title"], n["body"]) for n in ru] == [
        ("Новая отметка «нравится»", "boris: нравится ваш пост"),
        ("Новый подписчик", "boris теперь подписан(а) на вас")]
    assert [n["data"] for n in en] == [n["data"] for n in ru]


def test_russian_plurals_in_the_expiring_items_text(app: Flask) -> None:
    items = [{"id": i, "name": f"n{i}"} for i in range(7)]
    row = live.spec("ExpiringItems")
    assert row is not None and row.inbox is not None
    with app.test_request_context(headers=RU):
        assert row.inbox({"items": items[:1], "days": 1}) == (
            "Срок годности истекает", "1 продукт в течение 1 дня: n0")
        assert row.inbox({"items": items[:3], "days": 3})[1] == "3 продукта в течение 3 дней: n0, n1, n2"
        assert row.inbox({"items": items, "days": 5})[1] == \
            "7 продуктов в течение 5 дней: n0, n1, n2, n3, n4 и ещё 2"
    with app.test_request_context(headers=EN):
        assert row.inbox({"items": items[:1], "days": 1})[1] == "1 item within 1 day: n0"


def test_the_users_setting_wins_over_the_header(client, auth) -> None:
    anna = auth.register("anna")
    assert client.get("/api/v1/auth/me", headers=anna["headers"]).get_json()["language"] is None
    me = client.patch("/api/v1/auth/me", json={"language": "ru"}, headers=anna["headers"])
    assert me.status_code == 200 and me.get_json()["language"] == "ru"
    assert client.get("/api/v1/auth/me", headers=anna["headers"]).get_json()["language"] == "ru"
    missing = client.get("/api/v1/community/posts/999", headers={**anna["headers"], **EN})
    assert _error(missing, 404) == {"code": "not_found", "message": "пост не найден"}
    client.patch("/api/v1/auth/me", json={"language": "en"}, headers=anna["headers"])
    missing = client.get("/api/v1/community/posts/999", headers={**anna["headers"], **RU})
    assert _error(missing, 404)["message"] == "post not found"
    client.patch("/api/v1/auth/me", json={"language": None}, headers=anna["headers"])  # the browser's
    missing = client.get("/api/v1/community/posts/999", headers={**anna["headers"], **RU})
    assert _error(missing, 404)["message"] == "пост не найден"


@pytest.mark.parametrize("language", ["de", "RU", "", 1, True, ["ru"]])
def test_an_unknown_language_setting_is_refused(client, auth, language) -> None:
    anna = auth.register("anna")
    error = _error(client.patch("/api/v1/auth/me", json={"language": language},
                                headers={**anna["headers"], **RU}), 400)
    assert error == {"code": "invalid_field", "message": "language: допустимые значения: en, ru или null"}
    assert client.get("/api/v1/auth/me", headers=anna["headers"]).get_json()["language"] is None


def test_the_latest_request_language_is_remembered_for_texts_without_a_request(app, client, auth) -> None:
    anna = auth.register("anna")
    with app.app_context():
        assert i18n.user_language(anna["user"]["id"]) == "en"
    client.get("/api/v1/auth/me", headers={**anna["headers"], **RU})
    with app.app_context():
        assert i18n.user_language(anna["user"]["id"]) == "ru"
    client.get("/api/v1/auth/me", headers={**anna["headers"], **EN})
    with app.app_context():
        assert i18n.user_language(anna["user"]["id"]) == "en"
    client.patch("/api/v1/auth/me", json={"language": "ru"}, headers=anna["headers"])
    client.get("/api/v1/auth/me", headers={**anna["headers"], **EN})
    with app.app_context():
        assert i18n.user_language(anna["user"]["id"]) == "ru"  # the setting first


# --- the catalog has every text -----------------------------------------------------------

def _keywords() -> dict[str, Any]:
    """pybabel's keywords as the Makefile's ``messages`` target passes them."""
    line = next(line for line in (ROOT / "Makefile").read_text().splitlines()
                if line.startswith("BABEL_KEYWORDS"))
    extra = {name: (int(arg),) for name, arg in re.findall(r"-k (\w+):(\d+)", line)}
    assert extra, "the Makefile names no keywords"
    return {**DEFAULT_KEYWORDS, **extra}


def _method_map() -> list[tuple[str, str]]:
    mapping = []
    for section in re.findall(r"^\[(\w+): ([^\]]+)\]", (ROOT / "babel.cfg").read_text(), re.M):
        mapping.append((section[1], section[0]))
    return mapping


def _code_msgids() -> set[Any]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), _method_map(), keywords=_keywords()):
        if message:
            found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_every_text_of_the_code_has_its_russian_translation() -> None:
    """A new text without its Russian form fails here: run ``make messages`` and translate it."""
    msgids = _code_msgids()
    assert "post not found" in msgids and "New like" in msgids  # the extraction finds the texts
    with open(ROOT / "itcook/translations/ru/LC_MESSAGES/messages.po", "rb") as po:
        catalog = read_po(po, locale="ru")
    untranslated = []
    for msgid in sorted(msgids, key=str):
        message = catalog.get(msgid)
        strings = () if message is None else (
            message.string if isinstance(message.string, tuple) else (message.string,))
        if message is None or message.fuzzy or not all(strings):
            untranslated.append(msgid)
    assert not untranslated, f"no Russian for {untranslated}"
    problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
    assert not problems  # placeholders the same as the msgid's, every plural form there


def test_every_notification_has_a_russian_title(app: Flask) -> None:
    """A row of ``live.EVENTS`` whose text is not written with gettext fails here."""
    for row in live.EVENTS:
        if row.inbox is None:
            continue
        sample = {name: 1 for name in row.fields} | {"items": [], "title": "t", "error": "e"}
        with app.test_request_context(headers=EN):
            english = row.inbox(sample)[0]
        with app.test_request_context(headers=RU):
            russian = row.inbox(sample)[0]
        if row.type != "SystemNotification":  # the admin's own title, as written
            assert russian != english, f"{row.type}: {english!r} has no Russian form"


#: The calls whose message is a text for people (the message's position, from 0).
MESSAGE_ARGS = {"ApiError": 2, "RealtimeError": 2, "error_response": 2, "invalid_field": 1,
                "_invalid": 1, "_bad": 1}


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _built(node: ast.expr) -> bool:
    # f"…{x}", "…%s" % x, "…".format(x): a text made at run time is no msgid.
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp):
        return isinstance(node.op, ast.Mod | ast.Add)
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format")


def test_no_error_message_is_built_where_the_catalog_cannot_see_it() -> None:
    """``ApiError(…, f"x {y}")`` would stay English: use ``"x %(y)s", y=y`` instead."""
    offenders = []
    for path in sorted((ROOT / "itcook").rglob("*.py")):
        if "realtime" in path.relative_to(ROOT / "itcook").parts:
            continue  # the plugin's own texts are English (docs/i18n.md)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or _name(node.func) not in MESSAGE_ARGS:
                continue
            index = MESSAGE_ARGS[_name(node.func)]  # type: ignore[index]
            message = node.args[index] if len(node.args) > index else None
            if message is not None and _built(message):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


def test_settings_need_a_token_and_a_json_body(client, auth) -> None:
    anna = auth.register("anna")
    assert _error(client.patch("/api/v1/auth/me", json={"language": "ru"}), 401)["code"] == "missing_token"
    response = client.patch("/api/v1/auth/me", data="language=ru", headers=anna["headers"],
                            content_type="application/x-www-form-urlencoded")
    assert _error(response, 415)["code"] == "unsupported_media_type"
    unchanged = client.patch("/api/v1/auth/me", json={}, headers=anna["headers"])
    assert unchanged.status_code == 200 and unchanged.get_json()["language"] is None
