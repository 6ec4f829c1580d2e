"""Languages of the texts the server writes for people (docs/i18n.md): Flask-Babel, with the
gettext catalogs of ``itcook/translations`` read from their ``.po`` files.

The language of a request: the user's setting (``users.language``), else the best of the
request's ``Accept-Language``, else English. Texts sent with no request (Web Push) use the
setting, else the language of the user's latest request (``users.request_language``).
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from flask import Flask, Response, has_request_context, request
from flask_babel import Babel, Domain, force_locale, get_locale, gettext, ngettext
from flask_jwt_extended import get_current_user
from sqlalchemy import Connection, select, update

__all__ = ["LANGUAGES", "N_", "force_locale", "gettext", "init_app", "language_of", "ngettext",
           "user_language"]

#: The languages there are texts in; the first is the default (and the language of the msgids).
LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT = LANGUAGES[0]
CATALOGS = os.path.join(os.path.dirname(__file__), "translations")
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark ``message`` as a msgid for ``pybabel extract`` without translating it here: it is
    translated where it is shown (``gettext(message)``)."""
    return message


@functools.lru_cache(maxsize=len(LANGUAGES))
def catalog(language: str) -> NullTranslations:
    """The translations of ``language``, compiled in memory from its ``.po`` file (once per
    process): no generated ``.mo`` file in the repository or the install step."""
    path = os.path.join(CATALOGS, language, "LC_MESSAGES", f"{DOMAIN}.po")
    if not os.path.exists(path):
        return NullTranslations()  # English: the msgids themselves
    with open(path, "rb") as po:
        messages = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, messages)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


class _PoDomain(Domain):
    """Flask-Babel's domain, with the catalogs of ``catalog`` instead of ``.mo`` files."""

    def get_translations(self) -> NullTranslations:
        locale = get_locale()
        return catalog(locale.language) if locale is not None else NullTranslations()


def _user() -> Any:
    # The user of this request's verified token; None before (or without) verification.
    try:
        return get_current_user()
    except RuntimeError:
        return None


def language_of(value: str | None) -> str | None:
    """``value`` if it is one of ``LANGUAGES``, else None."""
    return value if value in LANGUAGES else None


def header_language() -> str | None:
    """The best of ``LANGUAGES`` for this request's ``Accept-Language`` (None: no preference)."""
    if not has_request_context() or not request.accept_languages:
        return None
    return request.accept_languages.best_match(LANGUAGES)


def select_language() -> str:
    """Flask-Babel's locale selector: the user's setting, else the header, else English."""
    user = _user() if has_request_context() else None
    return (language_of(getattr(user, "language", None)) or header_language() or DEFAULT)


def user_language(user_id: int, conn: Connection | None = None) -> str:
    """The language of a text for ``user_id`` outside their requests (Web Push): their setting,
    else their latest request's, else English. On ``conn``, or a connection of its own (after a
    commit the session cannot run SQL)."""
    from itcook.extensions import db
    from itcook.models import User

    query = select(User.language, User.request_language).where(User.id == user_id)
    if conn is None:
        with db.engine.connect() as own:
            row = own.execute(query).first()
    else:
        row = conn.execute(query).first()
    if row is None:
        return DEFAULT
    return language_of(row[0]) or language_of(row[1]) or DEFAULT


def _remember(response: Response) -> Response:
    # Rarely a write: only when a user's browser asks for another language than last time.
    from itcook.extensions import db
    from itcook.models import User

    if response.status_code >= 500:
        return response
    asked = header_language()
    user = _user() if asked else None
    if user is not None and user.request_language != asked:
        user_id = user.id
        # Whatever the view left uncommitted is not part of its answer (the teardown would roll
        # it back): it must not ride along with this write.
        db.session.rollback()
        db.session.execute(update(User).where(User.id == user_id).values(request_language=asked))
        db.session.commit()
    return response


def init_app(app: Flask) -> None:
    """Set up Flask-Babel with ``select_language`` and the ``.po`` catalogs; remember each
    user's request language."""
    babel = Babel(app, locale_selector=select_language, configure_jinja=False)
    babel.domain_instance = _PoDomain(domain=DOMAIN)  # type: ignore[misc]
    app.after_request(_remember)
