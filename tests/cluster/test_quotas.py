"""Limits that must hold across processes: login throttles (Redis) and per-user quotas."""

from __future__ import annotations

import pytest
import requests

from itcook.config import SETTINGS
from tests.cluster.conftest import Cluster

DEFAULTS = {s.key: s.default for s in SETTINGS}


@pytest.fixture
def cluster_settings() -> dict[str, str]:
    return {"ITCOOK_AUTH_LIMIT_PER_ACCOUNT": DEFAULTS["AUTH_LIMIT_PER_ACCOUNT"]}


def test_login_throttle_is_shared_by_every_process(cluster: Cluster) -> None:
    a, b = cluster.start(2)
    limit = int(DEFAULTS["AUTH_LIMIT_PER_ACCOUNT"].split("/")[0])
    answers = [requests.post(f"{server.url}/api/v1/auth/login", timeout=10,
                             json={"username": "anna", "password": "wrong-pass1"}).status_code
               for server in [a, b] * limit]
    assert answers[:limit] == [401] * limit
    assert answers[limit:] == [429] * limit
