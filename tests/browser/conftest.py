"""Browser tests: Debian's Chromium driven by Playwright, against the app served in this process.

Playwright's sync API runs its own event loop inside greenlets; with the standard library
patched by gevent, its waits yield to the gevent hub, so the in-process server keeps serving
while a test waits on the page (checked: ``tests/browser`` runs the server and the browser in
one process). Every wait is bounded; nothing sleeps to synchronise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.browser import WAIT_MS, RequestCounter
from tests.support.servers import make_test_config

CHROMIUM = os.environ.get("ITCOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 # A test pattern and a beep for getUserMedia, granted without a prompt (calls).
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
#: Short server timers; a test may override them with ``@pytest.mark.realtime_config(...)``.
FAST = {"REALTIME_HEARTBEAT_INTERVAL": 5.0, "REALTIME_IDLE_TIMEOUT": 30.0,
        "REALTIME_TYPING_THROTTLE": 1.0, "REALTIME_TYPING_TIMEOUT": 5.0}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set ITCOOK_CHROMIUM)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium through Playwright")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    reason = _missing()
    if reason and os.environ.get("ITCOOK_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(f"ITCOOK_REQUIRE_BROWSER=1 but {reason}")
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {reason}"))


@pytest.fixture
def app_config(tmp_path: Any, request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("realtime_config")
    return make_test_config(tmp_path, **{**FAST, **(marker.kwargs if marker else {})})


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session; each test opens its own contexts."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(init_script=None, **context_options)``: a page in a fresh context (options such as
    ``locale`` or ``viewport`` go to ``browser.new_context``), closed after the test."""
    contexts: list[Any] = []

    def make(init_script: str | None = None, **context_options: Any) -> Any:
        context = browser.new_context(**context_options)
        context.set_default_timeout(WAIT_MS)
        if init_script:
            context.add_init_script(init_script)
        contexts.append(context)
        page = context.new_page()
        page.errors = []  # uncaught page errors fail the test at teardown
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        return page

    yield make
    errors = [e for context in contexts for page in context.pages for e in page.errors]
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def requests_seen(app: Flask) -> RequestCounter:
    """Count the requests the app receives, by path."""
    return RequestCounter(app)
