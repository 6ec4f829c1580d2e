"""Deployment tests: deploy/nginx.conf in front of gunicorn, and ``python wsgi.py``, as child
processes (tests/support/deploy.py). Without nginx, PostgreSQL or Redis they skip with the reason;
``ITCOOK_REQUIRE_NGINX=1`` (CI) turns a missing nginx into an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deploy import Deployment, deployed, skip_reason


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        names = getattr(item, "fixturenames", ())
        # nginx for the tests behind it; PostgreSQL and Redis for every server process.
        if str(item.fspath).startswith(here) and ("deployment" in names or "tmp_path" in names):
            reason = skip_reason(nginx="deployment" in names)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """nginx in front of two gunicorn gevent workers, shared by the tests of a module (each
    registers users of its own)."""
    with deployed(tmp_path_factory.mktemp("deployment")) as running:
        yield running
