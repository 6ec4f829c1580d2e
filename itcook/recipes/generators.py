"""Recipe generators: the built-in local one and an OpenAI-compatible HTTP one.

A generator turns a list of ingredient names into a :class:`RecipeDraft` or raises
:class:`GenerationError` with a short message fit to show the user. Both kinds are checked by
the same :func:`parse_draft`, so a stored recipe always has the same shape whoever wrote it.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import gevent

from itcook.recipes.cookbook import compose

MAX_TITLE = 200  # the width of Recipe.title
MAX_INGREDIENTS = 50
MAX_NAME = 100
MAX_UNIT = 32
MAX_AMOUNT = 100_000
MAX_STEPS = 20
# Generous: the local generator names every ingredient in a step, and 30 names of 100 characters
# are legal input.
MAX_STEP = 4000
# An answer larger than this is not a recipe; reading it all would only cost memory.
MAX_RESPONSE_BYTES = 1_048_576

SYSTEM_PROMPT = (
    "You are a careful home-cooking assistant. Answer with one JSON object and nothing else, "
    'shaped exactly as {"title": string, "ingredients": [{"name": string, "amount": number or null, '
    '"unit": string}], "steps": [string]}. Cook for 2 servings with metric units, use the given '
    "ingredients (common pantry staples such as salt, pepper and oil may be added) and write 4 to 8 "
    "short, concrete steps."
)


class GenerationError(Exception):
    """A recipe could not be generated; the message is short and safe to show the user."""


@dataclass(frozen=True)
class RecipeDraft:
    """A generated recipe before it is stored."""

    title: str
    ingredients: list[dict[str, Any]]  # each {"name": str, "amount": number | None, "unit": str}
    steps: list[str]


class Generator(Protocol):
    """Anything that can write a recipe from ingredient names."""

    name: str  # stored in Recipe.generator

    def generate(self, ingredients: list[str]) -> RecipeDraft: ...


class LocalGenerator:
    """The built-in generator: deterministic, offline, instant (see ``cookbook.py``)."""

    name = "local"

    def generate(self, ingredients: list[str]) -> RecipeDraft:
        """Compose a recipe; the same ingredients in any order or case give the same recipe."""
        if not ingredients:
            raise GenerationError("no ingredients to cook with")
        title, items, steps = compose(ingredients)
        return RecipeDraft(title=title, ingredients=items, steps=steps)


class HttpGenerator:
    """Asks an OpenAI-compatible ``chat/completions`` endpoint for a JSON recipe."""

    name = "http"

    def __init__(self, url: str, model: str, api_key: str = "", timeout: float = 30.0) -> None:
        self.url = url
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        # Built once: the proxy settings of the environment are read here, not at each call.
        self._opener = urllib.request.build_opener()

    def request_body(self, ingredients: list[str]) -> dict[str, Any]:
        """The chat-completions request for these ingredients."""
        user = ("Write a recipe using these ingredients: "
                + json.dumps(ingredients, ensure_ascii=False))
        return {"model": self.model,
                "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                             {"role": "user", "content": user}],
                "response_format": {"type": "json_object"}}

    def generate(self, ingredients: list[str]) -> RecipeDraft:
        """Call the service and return its recipe, or raise :class:`GenerationError`."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self.url, data=json.dumps(self.request_body(ingredients)).encode(), headers=headers,
            method="POST")
        timed_out = GenerationError(f"the recipe service did not answer within {self.timeout:g} s")
        try:
            # The socket timeout bounds each read; the gevent timeout bounds the whole exchange,
            # so a server trickling bytes cannot hold the job forever.
            with gevent.Timeout(self.timeout, timed_out), \
                    self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise GenerationError(f"the recipe service answered HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise timed_out from None
            raise GenerationError(f"the recipe service is unreachable: {exc.reason}") from None
        except TimeoutError:
            raise timed_out from None
        except (OSError, http.client.HTTPException) as exc:
            raise GenerationError(f"the recipe service connection failed: {type(exc).__name__}") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise GenerationError("the recipe service answer is too large")
        return parse_draft(_message_json(raw))


def _message_json(raw: bytes) -> Any:
    """The JSON object inside ``choices[0].message.content`` of a chat-completions answer."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise GenerationError("the recipe service answered with something that is not JSON") from None
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise GenerationError("the recipe service answer has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise GenerationError("the recipe service answer has no choices[0].message.content")
    try:
        return json.loads(content)
    except ValueError:
        raise GenerationError("the recipe service's message is not valid JSON") from None


def _text(value: Any, where: str, max_len: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise GenerationError(f"invalid recipe: {where} must be a string")
    value = " ".join(value.split())
    if not value and not allow_empty:
        raise GenerationError(f"invalid recipe: {where} must not be empty")
    if len(value) > max_len:
        raise GenerationError(f"invalid recipe: {where} must be at most {max_len} characters")
    return value


def _list(value: Any, where: str, max_items: int) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise GenerationError(f"invalid recipe: {where} must be a non-empty list")
    if len(value) > max_items:
        raise GenerationError(f"invalid recipe: {where} must have at most {max_items} items")
    return value


def _amount(value: Any, where: str) -> int | float | None:
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not 0 < value <= MAX_AMOUNT):
        raise GenerationError(f"invalid recipe: {where} must be a positive number or null")
    return value


def parse_draft(data: Any) -> RecipeDraft:
    """Check a recipe object strictly and return it as a draft (whitespace tidied)."""
    if not isinstance(data, Mapping):
        raise GenerationError("invalid recipe: not a JSON object")
    title = _text(data.get("title"), "title", MAX_TITLE)
    ingredients = []
    for i, item in enumerate(_list(data.get("ingredients"), "ingredients", MAX_INGREDIENTS)):
        where = f"ingredients[{i}]"
        if not isinstance(item, Mapping):
            raise GenerationError(f"invalid recipe: {where} must be an object")
        unit = item.get("unit")
        ingredients.append({
            "name": _text(item.get("name"), f"{where}.name", MAX_NAME),
            "amount": _amount(item.get("amount"), f"{where}.amount"),
            "unit": "" if unit is None else _text(unit, f"{where}.unit", MAX_UNIT, allow_empty=True),
        })
    steps = [_text(step, f"steps[{i}]", MAX_STEP)
             for i, step in enumerate(_list(data.get("steps"), "steps", MAX_STEPS))]
    return RecipeDraft(title=title, ingredients=ingredients, steps=steps)


def make_generator(config: Mapping[str, Any]) -> Generator:
    """Build the generator ``RECIPE_GENERATOR`` names; a bad setting fails at start-up."""
    kind = str(config.get("RECIPE_GENERATOR") or "local").strip().lower()
    if kind == "local":
        return LocalGenerator()
    if kind != "http":
        raise ValueError(f"ITCOOK_RECIPE_GENERATOR must be 'local' or 'http', not {kind!r}")
    url = str(config.get("RECIPE_HTTP_URL") or "").strip()
    if not url:
        raise ValueError("ITCOOK_RECIPE_GENERATOR=http needs ITCOOK_RECIPE_HTTP_URL "
                         "(an OpenAI-compatible chat/completions URL)")
    # urllib would also open file:// and ftp:// URLs; only a web service makes sense here.
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"ITCOOK_RECIPE_HTTP_URL must be an http:// or https:// URL, not {url!r}")
    model = str(config.get("RECIPE_HTTP_MODEL") or "").strip()
    if not model:
        raise ValueError("ITCOOK_RECIPE_HTTP_MODEL must not be empty when ITCOOK_RECIPE_GENERATOR=http")
    timeout = config.get("RECIPE_HTTP_TIMEOUT", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < math.inf:
        raise ValueError(f"ITCOOK_RECIPE_HTTP_TIMEOUT must be a positive number of seconds, not {timeout!r}")
    return HttpGenerator(url, model, str(config.get("RECIPE_HTTP_API_KEY") or ""), float(timeout))


__all__ = ["GenerationError", "Generator", "HttpGenerator", "LocalGenerator", "RecipeDraft",
           "make_generator", "parse_draft"]
