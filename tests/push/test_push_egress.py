"""Push endpoints never make the server reach a private address (SSRF): refused at subscription
in every notation, refused again at send time (after DNS, for subscriptions that bypassed the API),
and redirects are never followed."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from itcook import create_app
from itcook.extensions import db
from itcook.models import PushSubscription, User
from tests.support.push import PUSH_CONFIG, browser_subscription, subscription_json
from tests.support.waiting import wait_for

guarded = pytest.mark.realtime_config(PUSH_ALLOW_PRIVATE_ADDRESSES=False)

NOT_PUBLIC = [
    # IPv4 loopback in every notation inet_aton (and so getaddrinfo) accepts.
    "https://127.0.0.1/p", "https://127.1/p", "https://127.0.1/p", "https://0x7f.1/p",
    "https://0x7f000001/p", "https://2130706433/p", "https://0177.0.0.1/p", "https://017700000001/p",
    "https://0x7F.0.0.1:8443/p", "https://127.000.000.001/p",
    # IPv6 loopback and the IPv6 forms that carry an IPv4 address.
    "https://[::1]/p", "https://[0:0:0:0:0:0:0:1]/p", "https://[::ffff:127.0.0.1]/p",
    "https://[::ffff:7f00:1]/p", "https://[::127.0.0.1]/p", "https://[64:ff9b::7f00:1]/p",
    "https://[64:ff9b::808:808]/p", "https://[2002:7f00:1::]/p", "https://[2001::1]/p",
    # Cloud metadata, private, shared, link-local, unique- and site-local, multicast, unspecified.
    "https://169.254.169.254/latest/meta-data/", "https://[fe80::1]/p", "https://10.0.0.1/p",
    "https://172.16.0.1/p", "https://192.168.1.1/p", "https://100.64.0.1/p", "https://[fd00::1]/p",
    "https://[fec0::1]/p", "https://224.0.0.1/p", "https://[ff02::1]/p", "https://0.0.0.0/p",
    "https://0/p", "https://[::]/p", "https://255.255.255.255/p", "https://240.0.0.1/p",
    "https://192.0.0.8/p", "https://198.18.0.1/p", "https://[2001:db8::1]/p",
    # Names: resolved, every address checked; a name that does not resolve is refused too.
    "https://localhost/p", "https://LOCALHOST:8443/p", "https://localhost./p",
    "https://push.invalid/p",
]


@guarded
@pytest.mark.parametrize("endpoint", NOT_PUBLIC)
def test_an_endpoint_on_a_non_public_address_is_refused(app, client, auth, endpoint) -> None:
    anna = auth.register("anna")
    response = client.post("/api/v1/push/subscriptions", json=subscription_json(endpoint),
                           headers=anna["headers"])
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "endpoint_not_public" and error["message"].startswith("endpoint: ")
    assert app.extensions["push"].sender.counters["subscription_refused"] == 1
    with app.app_context():
        assert db.session.query(PushSubscription).count() == 0
    for public in ("https://8.8.8.8/p", "https://[2001:4860:4860::8888]:443/p"):  # still accepted
        response = client.post("/api/v1/push/subscriptions", json=subscription_json(public),
                               headers=anna["headers"])
        assert response.status_code == 201, response.get_json()


@guarded
@pytest.mark.parametrize("endpoint", ["https://8.8.8.8:22/p", "https://8.8.8.8:6379/p",
                                      "https://[2001:4860:4860::8888]:8443/p"])
def test_an_endpoint_on_another_port_of_a_public_host_is_refused(client, auth, endpoint) -> None:
    """Push services listen on 443: another port would let a subscription probe a host's services."""
    anna = auth.register("anna")
    response = client.post("/api/v1/push/subscriptions", json=subscription_json(endpoint),
                           headers=anna["headers"])
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "endpoint_not_public" and "443" in error["message"]


@pytest.mark.parametrize("endpoint", [
    "https://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/p",  # fullwidth 127.0.0.1
    "https://[fe80::1%25eth0]/p",              # a zone index
    "https://[::1/p", "https://push.example.net:99999/p", "https://push.example.net:x/p",
    "https://push_x.example.net/p", "https://%31%32%37.0.0.1/p",
])
def test_an_ambiguous_endpoint_url_is_refused(client, auth, endpoint) -> None:
    anna = auth.register("anna")
    response = client.post("/api/v1/push/subscriptions", json=subscription_json(endpoint),
                           headers=anna["headers"])
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_field"


@pytest.mark.parametrize("key", ["PUSH_ALLOW_HTTP", "PUSH_ALLOW_PRIVATE_ADDRESSES"])
def test_production_refuses_the_test_settings(tmp_path, key) -> None:
    with pytest.raises(RuntimeError, match=f"ITCOOK_{key}"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "JWT_SECRET": "s" * 40,
                    "ENV": "production", key: True})


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real TCP listener on loopback that must never be connected to."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def _never_connected(sock: socket.socket) -> None:
    # Once the sender is idle, a connection it made is already in the backlog.
    with pytest.raises(BlockingIOError):
        sock.accept()[0].close()


def _follow(client, follower, followed) -> None:
    response = client.post(f"/api/v1/community/users/{followed['user']['id']}/follow",
                           headers=follower["headers"])
    assert response.status_code == 201


@guarded
@pytest.mark.parametrize("host", ["localhost", "LocalHost", "127.1", "0x7f000001", "[::ffff:127.0.0.1]"])
def test_a_stored_endpoint_on_a_private_address_is_not_contacted(app, client, auth, sender, listener,
                                                                  host) -> None:
    anna, boris = auth.register("anna"), auth.register("boris")
    _, sub = browser_subscription(f"https://{host}:{listener.getsockname()[1]}")
    with app.app_context():  # bypassing the API, as a row stored before the check would
        db.session.add(PushSubscription(user_id=db.session.get(User, anna["user"]["id"]).id,
                                        endpoint=sub["endpoint"], p256dh=sub["keys"]["p256dh"],
                                        auth=sub["keys"]["auth"]))
        db.session.commit()
    _follow(client, boris, anna)
    wait_for(lambda: sender.counters["endpoint_refused"] == 1 and sender.idle(), what="refusal")
    _never_connected(listener)
    assert sender.counters["sent"] == sender.counters["retried"] == sender.counters["failed"] == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(app, client, auth, push_service, sender, listener, status) -> None:
    assert PUSH_CONFIG["PUSH_ALLOW_PRIVATE_ADDRESSES"]  # even with the test setting
    anna, boris = auth.register("anna"), auth.register("boris")
    sub = push_service.subscribe()
    assert client.post("/api/v1/push/subscriptions", json=sub, headers=anna["headers"]).status_code == 201
    push_service.answer(sub, status)
    push_service.redirect_to = f"http://127.0.0.1:{listener.getsockname()[1]}/metadata"
    _follow(client, boris, anna)
    wait_for(lambda: sender.counters["failed"] == 1 and sender.idle(), what="the redirect's refusal")
    assert [r.status for r in push_service.to(sub)] == [status]  # final: not retried either
    _never_connected(listener)
