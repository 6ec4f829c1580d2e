"""Limits that must hold across processes: login throttles (Redis) and per-user quotas."""

from __future__ import annotations

import pytest
import requests

from itcook.config import SETTINGS
from tests.support.cluster import REDIS_PORT, Cluster, reset_database
from tests.support.rest import Api
from tests.support.waiting import concurrently, wait_for
from tests.support.ws import HandshakeRefused, ws_connect

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


CAP = 3


def _connect(server, token: str):
    try:
        return ws_connect(server, token, timeout=10)
    except HandshakeRefused as exc:
        assert (exc.status, exc.code) == (429, "too_many_connections"), exc
        return None


def test_connections_per_user_are_capped_across_processes(tmp_path) -> None:
    reset_database()
    cluster = Cluster(tmp_path, REDIS_PORT, ITCOOK_REALTIME_MAX_CONNECTIONS_PER_USER=str(CAP))
    try:
        a, b = cluster.start(2)
        anna = Api(a).register("anna")
        token = anna["access_token"]
        # Simultaneous handshakes, half on each process: the cap is for both together.
        opened = concurrently(4 * CAP, lambda i: _connect((a, b)[i % 2], token))
        held = [client for client in opened if client is not None]
        assert len(held) == CAP
        assert _connect(a, token) is None and _connect(b, token) is None
        # A closed connection gives its slot back to every process (reported within a tick).
        held.pop().close()
        replacement: list = []
        wait_for(lambda: replacement.append(_connect(b, token)) or replacement[-1] is not None,
                 timeout=10, what="the freed slot to be usable on the other process")
        held.append(replacement[-1])
        assert _connect(a, token) is None
        for client in held:
            client.close()
    finally:
        cluster.stop()
