"""The server's VAPID key pair (RFC 8292): configured, or generated once and kept.

The public key is the ``applicationServerKey`` browsers subscribe with, so it must stay the
same for as long as the subscriptions live, and be the same on every host of a deployment.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

log = logging.getLogger(__name__)

KEY_FILE = "vapid-private.pem"


def b64url(data: bytes) -> str:
    """Unpadded base64url, the encoding of every key in Web Push."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; ``ValueError`` if it is not base64url."""
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
                       for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))


def _from_config(value: str) -> ec.EllipticCurvePrivateKey:
    value = value.strip()
    if value.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(value.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ValueError("the PEM key is not a P-256 (prime256v1) EC key")
        return key
    raw = b64url_decode(value)
    if len(raw) != 32:
        raise ValueError("expected the 32-byte private key in base64url, or a PEM key")
    return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())


def _generate(path: Path) -> None:
    """Write a new key to ``path`` unless another process did first (link is atomic)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    try:
        os.link(tmp, path)
        log.warning("generated a VAPID key in %s; set ITCOOK_PUSH_VAPID_PRIVATE_KEY to share one "
                    "key between hosts", path)
    except FileExistsError:
        pass  # another worker won the race: use its key
    finally:
        os.unlink(tmp)


def load_vapid(configured: str, instance_path: str, production: bool) -> Vapid02 | None:
    """The VAPID signer: from the setting, else (outside production) the instance file, made once.

    Returns None in production without a configured key: Web Push is then off, since a key
    generated per host would not match the subscriptions made through another host.
    """
    if configured:
        try:
            return Vapid02(_from_config(configured))
        except ValueError as exc:
            raise RuntimeError(f"ITCOOK_PUSH_VAPID_PRIVATE_KEY: {exc}") from None
    if production:
        return None
    path = Path(instance_path) / KEY_FILE
    if not path.exists():
        _generate(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Vapid02(key)


def public_key(vapid: Vapid02) -> str:
    """The public key as browsers want it: the uncompressed P-256 point, base64url."""
    return b64url(vapid.public_key.public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))
