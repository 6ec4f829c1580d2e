"""Request parsing helpers: one place that turns bad input into a clear 400/415."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from flask import current_app, request
from sqlalchemy import Select, func, select
from werkzeug.routing import IntegerConverter

from itcook.errors import ApiError
from itcook.extensions import db
from itcook.i18n import gettext

_MISSING = object()
# Only the calendar form: date.fromisoformat also takes 20240101, week dates and times.
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: The largest id of a row (``Integer`` keys: 32-bit on PostgreSQL, which refuses to bind a
#: wider value); a client naming a larger one names nothing.
MAX_ID = 2**31 - 1
#: The largest event (and so notification) id: ``BigInteger``.
MAX_EVENT_ID = 2**63 - 1


def is_row_id(value: int) -> bool:
    """Whether ``value`` can name a row at all; a lookup by any other id would only fail."""
    return 0 < value <= MAX_ID


class IdConverter(IntegerConverter):
    """``<int:...>`` in this app's routes: at most ``MAX_ID``. A wider number matches no route
    (404) instead of reaching the database, whose driver cannot bind it (500)."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits, min, max, signed)


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored (NUL: PostgreSQL refuses it; a lone surrogate, as JSON's
    "\\ud800" gives: it has no UTF-8 form), or None."""
    if "\x00" in text:
        return gettext("must not contain NUL characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        return gettext("must not contain unpaired surrogates")
    return None


def json_body(optional: bool = False) -> dict[str, Any]:
    """Return the request's JSON object or raise 415/400 with a precise code."""
    if optional and not request.get_data(cache=True):
        return {}
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send a JSON body with Content-Type: application/json")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser's recursion limit (silent= misses it)
        body = None
    if body is None:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return body


def _invalid(name: str, message: str, **params: object) -> ApiError:
    # The field's name is the JSON key, the same in every language.
    return ApiError(400, "invalid_field", "%(field)s: %(problem)s", field=name,
                    problem=gettext(message, **params))


def get_str(body: dict[str, Any], name: str, *, required: bool = True, min_len: int = 1,
            max_len: int = 255, default: str | None = None, strip: bool = True) -> str | None:
    """Return a string field, trimmed and length-checked."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ApiError(400, "missing_field", "%(field)s is required", field=name)
        return default
    if not isinstance(value, str):
        raise _invalid(name, "must be a string")
    problem = unstorable(value)
    if problem:
        raise _invalid(name, problem)
    if strip:
        value = value.strip()
    if len(value) < min_len:
        raise _invalid(name, "must be at least %(limit)d characters long", limit=min_len)
    if len(value) > max_len:
        raise _invalid(name, "must be at most %(limit)d characters long (this one has %(length)d)",
                       limit=max_len, length=len(value))
    return value


def get_number(body: dict[str, Any], name: str, *, required: bool = True,
               minimum: float | None = None, maximum: float | None = 1e9,
               exclusive_minimum: bool = False, default: float | None = None) -> float | None:
    """Return a finite number field within bounds (booleans are not numbers)."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ApiError(400, "missing_field", "%(field)s is required", field=name)
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(name, "must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer of hundreds of digits: no float holds it
        raise _invalid(name, "must be finite") from None
    if not math.isfinite(number):
        raise _invalid(name, "must be finite")
    if minimum is not None and (number <= minimum if exclusive_minimum else number < minimum):
        if exclusive_minimum:
            raise _invalid(name, "must be greater than %(limit)s", limit=format(minimum, "g"))
        raise _invalid(name, "must be at least %(limit)s", limit=format(minimum, "g"))
    if maximum is not None and number > maximum:
        raise _invalid(name, "must be at most %(limit)s", limit=format(maximum, "g"))
    return number


def invalid_field(name: str, message: str, **params: object) -> ApiError:
    """The 400 ``invalid_field`` error naming ``name``, for checks beyond the helpers here
    (``message``: a msgid, like ``ApiError``'s)."""
    return _invalid(name, message, **params)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get_int(body: dict[str, Any], name: str, *, required: bool = True, minimum: int = 1,
            maximum: int = MAX_ID) -> int | None:
    """Return an integer field within bounds (booleans and floats are not integers)."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ApiError(400, "missing_field", "%(field)s is required", field=name)
        return None
    if not _is_int(value) or not minimum <= value <= maximum:
        raise _invalid(name, "must be an integer from %(minimum)d to %(maximum)d", minimum=minimum,
                       maximum=maximum)
    return int(value)


def get_int_list(body: dict[str, Any], name: str, *, required: bool = True, max_items: int = 100,
                 minimum: int = 1, maximum: int = MAX_ID) -> list[int] | None:
    """Return a non-empty list of integers within bounds, duplicates dropped, order kept."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ApiError(400, "missing_field", "%(field)s is required", field=name)
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= max_items:
        raise _invalid(name, "must be a list of 1 to %(limit)d integers", limit=max_items)
    if not all(_is_int(item) and minimum <= item <= maximum for item in value):
        raise _invalid(name, "must hold integers from %(minimum)d to %(maximum)d", minimum=minimum,
                       maximum=maximum)
    return list(dict.fromkeys(int(item) for item in value))


def get_bool(body: dict[str, Any], name: str, *, default: bool = False) -> bool:
    """Return an optional boolean field (absent or ``null``: ``default``)."""
    value = body.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(name, "must be true or false")
    return value


def get_object(body: dict[str, Any], name: str) -> dict[str, Any]:
    """Return a required JSON-object field."""
    value = body.get(name)
    if value is None:
        raise ApiError(400, "missing_field", "%(field)s is required", field=name)
    if not isinstance(value, dict):
        raise _invalid(name, "must be an object")
    return value


def get_date(body: dict[str, Any], name: str, *, required: bool = True) -> dt.date | None:
    """Return an ISO ``YYYY-MM-DD`` date field."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ApiError(400, "missing_field", "%(field)s is required", field=name)
        return None
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise _invalid(name, "must be a date string YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(name, "must be a date string YYYY-MM-DD") from None


def query_int(name: str, default: int, *, minimum: int = 0, maximum: int = 10**9) -> int:
    """Return an integer query-string parameter within bounds."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", "%(name)s must be an integer", name=name) from None
    if not minimum <= value <= maximum:
        raise ApiError(400, "invalid_parameter", "%(name)s must be between %(minimum)d and %(maximum)d",
                       name=name, minimum=minimum, maximum=maximum)
    return value


def query_bool(name: str, default: bool = False) -> bool:
    """Return a boolean query-string parameter: ``true``/``1`` or ``false``/``0``."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(400, "invalid_parameter", "%(name)s must be true or false", name=name)


def paginate(stmt: Select[Any]) -> tuple[list[Any], dict[str, int]]:
    """Run ``stmt`` for the page asked by ``?page=&per_page=``; return items and page info."""
    per_page = query_int("per_page", current_app.config["PAGE_SIZE"], minimum=1,
                         maximum=current_app.config["MAX_PAGE_SIZE"])
    page = query_int("page", 1, minimum=1)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return items, {"page": page, "per_page": per_page, "total": int(total or 0)}

