"""Web Push for tests: the app's VAPID key and push settings, subscriptions as a browser makes
them, and a push service on loopback: it receives the real encrypted request, checks the VAPID
token (RFC 8292) and decrypts the aes128gcm payload (RFC 8291, RFC 8188) with the keys of a
subscription it made the way a browser does. Nothing of the application's code is used here.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from gevent.pywsgi import WSGIServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_KEY = ec.generate_private_key(ec.SECP256R1())
#: The application server's VAPID key for every push test: base64url of the private number.
VAPID_PRIVATE = b64url(_KEY.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PUBLIC = b64url(_KEY.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint))
PUSH_CONFIG = {"PUSH_VAPID_PRIVATE_KEY": VAPID_PRIVATE, "PUSH_ALLOW_HTTP": True,
               "PUSH_ALLOW_PRIVATE_ADDRESSES": True,
               "PUSH_RETRY_DELAY": 0.05, "PUSH_MAX_ATTEMPTS": 3, "PUSH_TIMEOUT": 5.0,
               "PUSH_VAPID_SUBJECT": "mailto:push-tests@itcook.example"}


@dataclass
class Subscriber:
    """A browser's push subscription: its own ECDH key pair and auth secret."""

    token: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def browser_subscription(origin: str) -> tuple[Subscriber, dict[str, Any]]:
    """New keys, and the ``PushSubscription.toJSON()`` a browser would give for them."""
    sub = Subscriber(secrets.token_urlsafe(12))
    return sub, {"endpoint": f"{origin}/push/{sub.token}", "expirationTime": None,
                 "keys": {"p256dh": sub.p256dh, "auth": b64url(sub.auth)}}


def subscription_json(endpoint: str = "https://push.example.net/send/abc") -> dict[str, Any]:
    """A ``PushSubscription.toJSON()`` for ``endpoint`` with fresh keys nobody keeps (never sent to)."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": endpoint, "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(b"0123456789abcdef")}}


@dataclass
class Received:
    """One request the service answered."""

    token: str
    status: int
    headers: dict[str, str]
    claims: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    error: str | None = None


class PushService:
    """``subscribe()`` gives a ``PushSubscription`` JSON; ``answer(token, 500, 410…)`` scripts replies."""

    def __init__(self, vapid_public_key: str) -> None:
        self.vapid_public_key = vapid_public_key
        self.subscribers: dict[str, Subscriber] = {}
        self.scripts: dict[str, list[int]] = {}
        self.received: list[Received] = []
        #: ``Location`` of the scripted 3xx answers.
        self.redirect_to = ""
        self.server = WSGIServer(("127.0.0.1", 0), self._wsgi, log=None)
        self.server.start()
        self.origin = f"http://127.0.0.1:{self.server.server_port}"

    def subscribe(self) -> dict[str, Any]:
        sub, json_ = browser_subscription(self.origin)
        self.subscribers[sub.token] = sub
        return json_

    def answer(self, subscription: dict[str, Any], *statuses: int) -> None:
        """Reply with these statuses to the next requests for ``subscription`` (then 201)."""
        self.scripts[subscription["endpoint"].rsplit("/", 1)[1]] = list(statuses)

    def to(self, subscription: dict[str, Any]) -> list[Received]:
        token = subscription["endpoint"].rsplit("/", 1)[1]
        return [r for r in self.received if r.token == token]

    def stop(self) -> None:
        self.server.stop(timeout=2)

    # -- the service --------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        token = environ["PATH_INFO"].rsplit("/", 1)[-1]
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        headers["content-encoding"] = environ.get("HTTP_CONTENT_ENCODING", "")
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        record = Received(token, 201, headers)
        try:
            sub = self.subscribers.get(token)
            if environ["REQUEST_METHOD"] != "POST" or sub is None:
                raise ValueError("unknown subscription")
            record.claims = self._check_vapid(headers.get("authorization", ""))
            record.payload = self._decrypt(sub, headers, body)
            script = self.scripts.get(token)
            if script:
                record.status = script.pop(0)
        except (ValueError, KeyError, InvalidSignature, AssertionError) as exc:
            record.status, record.error = 400, f"{type(exc).__name__}: {exc}"
        self.received.append(record)
        headers_out = [("Content-Length", "0")]
        if 300 <= record.status < 400:
            headers_out.append(("Location", self.redirect_to))
        start_response(f"{record.status} X", headers_out)
        return [b""]

    def _check_vapid(self, authorization: str) -> dict[str, Any]:
        """``vapid t=<JWT>, k=<public key>``: ES256 signature, aud, exp, sub (RFC 8292)."""
        scheme, _, params = authorization.partition(" ")
        assert scheme == "vapid", f"scheme {scheme!r}"
        parts = dict(part.strip().split("=", 1) for part in params.split(","))
        assert parts["k"] == self.vapid_public_key, "k is not the application server's key"
        header_b64, claims_b64, signature_b64 = parts["t"].split(".")
        header = json.loads(b64url_decode(header_b64))
        assert header["alg"] == "ES256" and header.get("typ", "JWT") == "JWT", f"header {header}"
        signature = b64url_decode(signature_b64)
        assert len(signature) == 64, "an ES256 JWS signature is r || s, 64 bytes"
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(parts["k"]))
        public_key.verify(encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                               int.from_bytes(signature[32:], "big")),
                          f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(b64url_decode(claims_b64))
        assert claims["aud"] == self.origin, f"aud {claims['aud']!r} is not {self.origin!r}"
        now = time.time()
        assert now < claims["exp"] <= now + 24 * 3600, "exp must be in the future, within 24 h"
        assert str(claims.get("sub", "")).startswith(("mailto:", "https://")), "sub is required"
        return claims

    @staticmethod
    def _decrypt(sub: Subscriber, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """aes128gcm with the subscription's private key and auth secret (RFC 8291)."""
        assert headers["content-encoding"] == "aes128gcm", headers["content-encoding"]
        assert int(headers["ttl"]) >= 0
        # RFC 8291 §4: one record, the sender's ephemeral public key (65 bytes) as the key id.
        assert body[20] == 65 and len(body) <= 4096 + 86, "aes128gcm header or size"
        plaintext = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth,
                                     version="aes128gcm")
        return json.loads(plaintext)
