"""Login and registration throttles: per client address and per account, shared across processes.

Each attempt costs a password hash (~130 ms of CPU by default); without a bound one client
could keep every hashing thread busy. Counters live in the broker's Redis in scale-out (every
process sees the same), in memory otherwise, with a moving window: at most N attempts in any
window of the rate's length.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, request
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from itcook.errors import ApiError
from itcook.i18n import N_

EXTENSION_KEY = "itcook.auth_throttle"

log = logging.getLogger(__name__)


class Throttle:
    """The two auth limits of an app and their (lazily opened) storage."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.per_address = _rate(config, "AUTH_LIMIT_PER_ADDRESS")
        self.per_account = _rate(config, "AUTH_LIMIT_PER_ACCOUNT")
        broker = str(config["BROKER_URL"])
        self.storage_uri = "memory://" if broker.startswith("memory") else broker
        self.key_prefix = f"{config['BROKER_PREFIX']}:auth-limits"
        self._limiter: MovingWindowRateLimiter | None = None
        self._local: MovingWindowRateLimiter | None = None

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        # Opened on first use: in the serving process, not in a parent that preloads the app.
        if self._limiter is None:
            options = {} if self.storage_uri == "memory://" else {
                "key_prefix": self.key_prefix, "socket_timeout": 1.0, "socket_connect_timeout": 1.0}
            storage = storage_from_string(self.storage_uri, wrap_exceptions=True, **options)
            self._limiter = MovingWindowRateLimiter(storage)
        return self._limiter

    @property
    def local(self) -> MovingWindowRateLimiter:
        """This process's own counters: used while the shared storage cannot be reached."""
        if self._local is None:
            self._local = MovingWindowRateLimiter(storage_from_string("memory://"))
        return self._local

    def check(self, username: str) -> None:
        """Count one attempt of this request's address on ``username``; 429 past either limit."""
        if self.per_address is not None:
            self._hit(self.per_address, "address", client_key(request.remote_addr))
        if self.per_account is not None:
            self._hit(self.per_account, "account", username.lower())

    def _hit(self, item: RateLimitItem, scope: str, key: str) -> None:
        limiter = self.limiter
        try:
            allowed = limiter.hit(item, scope, key)
        except StorageError as exc:
            # Redis is unreachable: logins go on, each process counting on its own meanwhile.
            log.warning("auth throttle: shared counters unreachable (%s); counting locally", exc)
            limiter = self.local
            allowed = limiter.hit(item, scope, key)
        if allowed:
            return
        reset = limiter.get_window_stats(item, scope, key).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        raise TooManyAttempts(scope, retry_after)


class TooManyAttempts(ApiError):
    """429 ``too_many_attempts``, with ``Retry-After``."""

    def __init__(self, scope: str, retry_after: int) -> None:
        if scope == "address":
            message = N_("too many login or registration attempts from this address; retry in %(s)d s")
        else:
            message = N_("too many login or registration attempts for this account; retry in %(s)d s")
        super().__init__(429, "too_many_attempts", message, retry_after=retry_after, s=retry_after)


def client_key(address: str | None) -> str:
    """The throttle's key of a client address: an IPv4 address, or an IPv6 address's /64.

    One IPv6 host is given a whole /64 and may pick any address in it (privacy addresses):
    counted per address, a single client would have an endless supply of budgets.
    """
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _rate(config: Mapping[str, Any], key: str) -> RateLimitItem | None:
    raw = str(config.get(key) or "").strip()
    if not raw:
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        raise RuntimeError(f"ITCOOK_{key}: not a rate such as '30/minute': {raw!r}") from exc


def init_app(app: Flask) -> None:
    """Attach the app's throttle (a bad rate setting fails here, at start-up)."""
    app.extensions[EXTENSION_KEY] = Throttle(app.config)


def check_attempt(username: str) -> None:
    """Count a login or registration attempt on ``username`` from this request's address."""
    throttle: Throttle = current_app.extensions[EXTENSION_KEY]
    throttle.check(username)
