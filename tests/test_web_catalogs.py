"""The web pages' catalogs (static/i18n): every key the pages use exists in English and Russian."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "static"
PAGES = ["index.html", "plans.html"]
SCRIPTS = ["demo.js", "kitchen.js", "nearby.js", "plans-page.js"]
RU_PLURAL_FORMS = ("one", "few", "many", "other")


def _catalog(lang: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for name in PAGES:
        html = (STATIC / name).read_text(encoding="utf-8")
        keys.update(re.findall(r'data-i18n(?:-title)?="([\w.]+)"', html))
        for attrs in re.findall(r'data-i18n-attr="([^"]+)"', html):
            keys.update(pair.split(":", 1)[1].strip() for pair in attrs.split(","))
    for name in SCRIPTS:
        keys.update(re.findall(r'\bt\("([\w.]+)"', (STATIC / name).read_text(encoding="utf-8")))
    return keys


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_key_the_pages_use_is_in_the_catalog(lang: str) -> None:
    catalog = _catalog(lang)
    def known(key: str) -> bool:
        if key.endswith("."):  # a prefix completed at run time ("conn." + state)
            return any(k.startswith(key) for k in catalog)
        return key in catalog or f"{key}.other" in catalog

    missing = sorted(k for k in _used_keys() if not known(k))
    assert not missing, f"{lang}.json lacks {missing}"


def test_russian_has_every_english_text_and_every_plural_form() -> None:
    en, ru = _catalog("en"), _catalog("ru")
    assert sorted(set(en) - set(ru)) == []
    plurals = {key.rsplit(".", 1)[0] for key in en if key.endswith(".other")}
    lacking = sorted(f"{base}.{form}" for base in plurals for form in RU_PLURAL_FORMS
                     if f"{base}.{form}" not in ru)
    assert not lacking
    # The same placeholders in both languages: a translation never loses a value.
    for key, text in en.items():
        if key in ru and not key.endswith((".one", ".few", ".many")):
            assert set(re.findall(r"\{(\w+)\}", text)) == set(re.findall(r"\{(\w+)\}", ru[key])), key
