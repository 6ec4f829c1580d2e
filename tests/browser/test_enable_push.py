"""``client.enablePush()`` / ``disablePush()`` through the demo page's buttons, in Chromium.

Headless Chromium has no push service, so ``PushManager.prototype.subscribe`` is replaced in the
page by a stub that records what it is given and returns a subscription shaped like a real one
(an endpoint on loopback, keys generated here). Everything around it is real: the Service Worker
registration, the VAPID key fetched from the server and converted to bytes, the POST and DELETE
of the subscription, and what the server keeps. The delivery of a push message to the worker is
tested in test_service_worker.py, the encrypted request to a push service in tests/push/.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from itcook.models import PushSubscription
from tests.support.browser import demo_register
from tests.support.rest import Api


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


_VAPID = ec.generate_private_key(ec.SECP256R1())
#: The server's VAPID key for these tests, and the public key a browser must be handed.
VAPID_PRIVATE = _b64url(_VAPID.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PUBLIC = _public_bytes(_VAPID)

# ``FAKE`` is the subscription's JSON; the stub keeps what subscribe() was given in pushStub.calls.
FAKE_PUSH_MANAGER = """
window.pushStub = {calls: [], unsubscribed: 0, subscription: null};
PushManager.prototype.subscribe = async function (options) {
  const key = new Uint8Array(options.applicationServerKey);
  pushStub.calls.push({userVisibleOnly: options.userVisibleOnly, key: Array.from(key)});
  pushStub.subscription = {
    endpoint: FAKE.endpoint,
    expirationTime: null,
    options: {userVisibleOnly: true, applicationServerKey: key.buffer},
    toJSON: () => JSON.parse(JSON.stringify(FAKE)),
    unsubscribe: async () => { pushStub.unsubscribed++; pushStub.subscription = null; return true; },
  };
  return pushStub.subscription;
};
PushManager.prototype.getSubscription = async function () { return pushStub.subscription; };
"""

REGISTRATION = """() => navigator.serviceWorker.getRegistration('/static/sw.js')
  .then((r) => r && {scope: r.scope, script: r.active && r.active.scriptURL})"""


def _fake_subscription() -> dict[str, Any]:
    """A subscription as a browser would give it: its own P-256 key and a 16-byte auth secret."""
    return {"endpoint": f"https://127.0.0.1:9/push/v2/{_b64url(os.urandom(24))}", "expirationTime": None,
            "keys": {"p256dh": _b64url(_public_bytes(ec.generate_private_key(ec.SECP256R1()))),
                     "auth": _b64url(os.urandom(16))}}


# The fake endpoint is on loopback: only the test setting lets the server accept it.
@pytest.mark.realtime_config(PUSH_VAPID_PRIVATE_KEY=VAPID_PRIVATE, PUSH_ALLOW_PRIVATE_ADDRESSES=True)
def test_enable_push_registers_the_worker_and_the_subscription(live_server, new_page) -> None:
    fake = _fake_subscription()
    page = new_page(init_script=f"const FAKE = {json.dumps(fake)};\n{FAKE_PUSH_MANAGER}")
    demo_register(page, live_server, "anna")
    api = Api(live_server)
    anna = api.login("anna")

    page.click("#push-enable")
    page.wait_for_selector("#push-status[data-state='on']")
    # subscribe() got the server's public key as the 65 bytes of its P-256 point.
    assert page.evaluate("pushStub.calls") == [{"userVisibleOnly": True, "key": list(VAPID_PUBLIC)}]
    assert page.evaluate(REGISTRATION) == {"scope": f"{live_server.url}/static/",
                                           "script": f"{live_server.url}/static/sw.js"}
    listed = api.call("GET", "/push/subscriptions", anna, expect=200).json()["items"]
    assert [item["endpoint"] for item in listed] == [fake["endpoint"]]
    with live_server.app.app_context():
        from itcook.extensions import db

        stored = db.session.query(PushSubscription).one()
        assert (stored.user_id, stored.p256dh, stored.auth) == (
            anna["user"]["id"], fake["keys"]["p256dh"], fake["keys"]["auth"])

    # Enabling again keeps the one subscription (same endpoint: 200, not a second row).
    page.click("#push-enable")
    page.wait_for_selector("#push-status[data-state='on']")
    assert len(api.call("GET", "/push/subscriptions", anna, expect=200).json()["items"]) == 1

    page.click("#push-disable")
    page.wait_for_selector("#push-status[data-state='off'] >> text=Push is off.")
    assert page.evaluate("pushStub.unsubscribed") == 1
    assert api.call("GET", "/push/subscriptions", anna, expect=200).json() == {"items": []}
    page.click("#push-disable")
    page.wait_for_selector("#push-status[data-state='off'] >> text=Push was not on.")


@pytest.mark.realtime_config(PUSH_VAPID_PRIVATE_KEY=VAPID_PRIVATE)
def test_enable_push_says_so_when_the_browser_cannot_subscribe(live_server, new_page) -> None:
    page = new_page()  # the real PushManager: headless Chromium has no push service behind it
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    demo_register(page, live_server, "anna")
    page.click("#push-enable")
    page.wait_for_selector("#push-status[data-state='error']")
    assert "The browser refused to subscribe" in page.text_content("#push-status")
    # The worker was registered all the same; the server holds nothing.
    assert page.evaluate(REGISTRATION)["script"] == f"{live_server.url}/static/sw.js"
    api = Api(live_server)
    assert api.call("GET", "/push/subscriptions", api.login("anna"), expect=200).json() == {"items": []}


@pytest.mark.realtime_config(ENV="production", PUSH_VAPID_PRIVATE_KEY="")
def test_enable_push_says_so_when_the_server_has_no_vapid_key(live_server, new_page) -> None:
    page = new_page()
    demo_register(page, live_server, "anna")
    page.click("#push-enable")
    page.wait_for_selector("#push-status[data-state='error']")
    assert "Web Push is not configured on this server" in page.text_content("#push-status")
