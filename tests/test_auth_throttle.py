"""Login and registration: throttled per address and per account; hashing never stalls the loop."""

from __future__ import annotations

from typing import Any

import gevent
import pytest
import requests

from itcook.config import SETTINGS
from tests.support.rest import Api

DEFAULTS = {s.key: s.default for s in SETTINGS}
REAL_LIMITS = {key: DEFAULTS[key] for key in ("AUTH_LIMIT_PER_ADDRESS", "AUTH_LIMIT_PER_ACCOUNT")}


def _limit(key: str) -> int:
    return int(DEFAULTS[key].split("/")[0])


def _login(client, username: str, address: str = "127.0.0.1") -> Any:
    return client.post("/api/v1/auth/login", json={"username": username, "password": "wrong-pass1"},
                       environ_base={"REMOTE_ADDR": address})


def _assert_throttled(response: Any) -> None:
    assert response.status_code == 429, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "too_many_attempts"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and error["retry_after"] == retry_after


@pytest.mark.realtime_config(**REAL_LIMITS)
def test_default_limits_per_account_then_per_address(client) -> None:
    per_account, per_address = _limit("AUTH_LIMIT_PER_ACCOUNT"), _limit("AUTH_LIMIT_PER_ADDRESS")
    assert per_account < per_address
    for _ in range(per_account):
        assert _login(client, "Anna").status_code == 401
    # The account is the username, whatever its case, from any address.
    _assert_throttled(_login(client, "anna", address="10.9.8.7"))
    assert _login(client, "bob", address="10.9.8.7").status_code == 401
    # 127.0.0.1 has spent per_account of its attempts.
    for i in range(per_address - per_account):
        assert _login(client, f"user{i}").status_code == 401
    _assert_throttled(_login(client, "someone-else"))
    # Registration draws on the same budget of the address.
    response = client.post("/api/v1/auth/register", json={"username": "newbie", "password": "secret123"})
    _assert_throttled(response)
    assert client.post("/api/v1/auth/register", json={"username": "newbie", "password": "secret123"},
                       environ_base={"REMOTE_ADDR": "10.1.1.1"}).status_code == 201


@pytest.mark.realtime_config(AUTH_LIMIT_PER_ADDRESS="", AUTH_LIMIT_PER_ACCOUNT="")
def test_empty_setting_means_no_limit(client) -> None:
    for _ in range(3 * _limit("AUTH_LIMIT_PER_ADDRESS")):
        assert _login(client, "anna").status_code == 401


def test_a_bad_rate_fails_at_start(tmp_path) -> None:
    from itcook import create_app
    from tests.support.servers import make_test_config

    with pytest.raises(RuntimeError, match="ITCOOK_AUTH_LIMIT_PER_ACCOUNT"):
        create_app(make_test_config(tmp_path, AUTH_LIMIT_PER_ACCOUNT="often"))


# A slow hash (~0.5 s here): long enough for many requests to be served while it runs.
@pytest.mark.realtime_config(ARGON2_TIME_COST=8, ARGON2_MEMORY_KIB=32768, ARGON2_PARALLELISM=1)
def test_requests_are_served_while_a_password_is_hashed(live_server) -> None:
    api = Api(live_server)
    anna = api.register("anna")
    login = gevent.spawn(requests.post, f"{api.base}/auth/login",
                         json={"username": "nobody", "password": "wrong-pass1"}, timeout=30)
    served_during = 0
    for _ in range(10_000):
        api.call("GET", "/auth/me", anna, expect=200)
        if login.ready():
            break
        served_during += 1
    assert login.get(timeout=30).status_code == 401
    # On the event loop the hash would hold every greenlet of the process (this client's
    # too) until it ended: at most the requests read before it began would be answered.
    assert served_during >= 5, served_during


@pytest.mark.realtime_config(**REAL_LIMITS)
def test_unreachable_shared_counters_fall_back_to_this_process(app, client) -> None:
    from itcook.auth.throttle import EXTENSION_KEY, Throttle
    from tests.support.servers import free_port

    # What a process sees when its Redis is gone: nothing listens on the broker's port.
    app.extensions[EXTENSION_KEY] = Throttle({**app.config, "BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"})
    for _ in range(_limit("AUTH_LIMIT_PER_ACCOUNT")):
        assert _login(client, "anna").status_code == 401
    _assert_throttled(_login(client, "anna"))


@pytest.mark.realtime_config(**REAL_LIMITS)
def test_an_ipv6_client_is_one_address_per_64_network(client) -> None:
    """A host holds a whole /64 (SLAAC, privacy addresses): counting each address alone would
    give one client 2^64 budgets."""
    per_address = _limit("AUTH_LIMIT_PER_ADDRESS")
    for i in range(per_address):
        assert _login(client, f"user{i}", address=f"2001:db8:1:2::{i + 1:x}").status_code == 401
    _assert_throttled(_login(client, "someone", address="2001:db8:1:2:ffff:ffff:ffff:ffff"))
    # The next network, and IPv4 addresses, are counted apart.
    assert _login(client, "someone", address="2001:db8:1:3::1").status_code == 401
    assert _login(client, "someone", address="192.0.2.1").status_code == 401
