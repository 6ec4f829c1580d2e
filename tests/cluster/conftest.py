"""Scale-out tests: real server processes sharing PostgreSQL and Redis (tests/support/cluster.py).

Without PostgreSQL or Redis on loopback every test here skips with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cluster import PG_URL, REDIS_HOST, REDIS_PORT, Cluster, TcpProxy, reset_database
from tests.support.servers import reachable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [name for name, port in (("PostgreSQL", 5432), ("Redis", REDIS_PORT))
               if not reachable("127.0.0.1", port)]
    if not missing:
        return
    reason = (f"scale-out tests need {' and '.join(missing)} on 127.0.0.1 "
              f"(PostgreSQL {PG_URL}, Redis port {REDIS_PORT}); not reachable here")
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def cluster_settings() -> dict[str, str]:
    """Extra ITCOOK_* settings of the cluster's servers (a test module may override)."""
    return {}


@pytest.fixture
def cluster(tmp_path: Path, cluster_settings: dict[str, str]) -> Iterator[Cluster]:
    reset_database()
    group = Cluster(tmp_path, REDIS_PORT, **cluster_settings)
    yield group
    group.stop()


@pytest.fixture
def proxy() -> Iterator[TcpProxy]:
    """A TCP proxy in front of Redis, cut at the end of the test."""
    front = TcpProxy((REDIS_HOST, REDIS_PORT))
    yield front
    front.cut()
