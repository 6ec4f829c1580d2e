"""A real TURN server for the tests: Debian's coturn (``turnserver``) on a free loopback port,
with the TURN REST credentials of ``use-auth-secret``; and a TURN Allocate client (RFC 5766
over UDP, the long-term credential of RFC 5389 section 10.2; messages built by aioice).

``TurnServer(tmp_path)`` starts one (``require_turnserver()`` first: it skips, or fails under
``ITCOOK_REQUIRE_MEDIA=1``, when coturn is missing); ``app_settings()`` / ``env()`` point the
app at it. Browser tests use it with ``iceTransportPolicy: "relay"``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import pytest

from tests.support.cluster import stop_process
from tests.support.servers import free_port

TURNSERVER = os.environ.get("ITCOOK_TURNSERVER", "/usr/bin/turnserver")
REALM = "itcook.test"


def missing() -> str | None:
    """Why no TURN server can be started here, or None."""
    if not (os.path.exists(TURNSERVER) or shutil.which(TURNSERVER)):
        return f"coturn's turnserver not found at {TURNSERVER} (apt-get install coturn)"
    try:
        import aioice.stun  # noqa: F401
    except ImportError:
        return "aioice is not installed (pip install -e '.[test]')"
    return None


def require_turnserver() -> None:
    """Skip the test without coturn; fail it instead under ``ITCOOK_REQUIRE_MEDIA=1``."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("ITCOOK_REQUIRE_MEDIA") == "1":
        pytest.fail(f"ITCOOK_REQUIRE_MEDIA=1 but {reason}")
    pytest.skip(f"TURN tests skipped: {reason}")


def _free_udp_and_tcp_port() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no loopback port free for both UDP and TCP")


@dataclass
class Allocation:
    """The answer to an authenticated Allocate: ``error`` (401: refused credential) or the relay."""

    error: int | None
    relayed: tuple[str, int] | None = None


def _exchange(sock: socket.socket, port: int, request: Any, timeout: float) -> Any:
    """Send ``request`` (retransmitted, as UDP needs) and return the answer to its transaction."""
    from aioice import stun

    deadline = time.monotonic() + timeout
    data = bytes(request)
    while time.monotonic() < deadline:
        sock.sendto(data, ("127.0.0.1", port))
        sock.settimeout(min(0.5, max(0.01, deadline - time.monotonic())))
        try:
            while True:
                reply, _ = sock.recvfrom(4096)
                message = stun.parse_message(reply)
                if message.transaction_id == request.transaction_id:
                    return message
        except TimeoutError:
            continue
    raise TimeoutError(f"no STUN answer from 127.0.0.1:{port} within {timeout} s")


def binding(port: int, timeout: float = 5.0) -> tuple[str, int]:
    """A STUN Binding request: the address the server sees (proves it is up)."""
    from aioice import stun

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        answer = _exchange(sock, port, stun.Message(stun.Method.BINDING, stun.Class.REQUEST), timeout)
    return tuple(answer.attributes["XOR-MAPPED-ADDRESS"])  # type: ignore[return-value]


def allocate(port: int, username: str, password: str, timeout: float = 5.0) -> Allocation:
    """Allocate a UDP relay with the long-term credential ``username``/``password``: first the
    unauthenticated request (401 with the realm and a nonce), then the signed one; a granted
    allocation is released at once (Refresh, lifetime 0)."""
    from aioice import stun
    from aioice.turn import make_integrity_key

    udp = 17 << 24  # REQUESTED-TRANSPORT: UDP
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        first = _exchange(sock, port, stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST,
                                                   attributes={"REQUESTED-TRANSPORT": udp}), timeout)
        assert first.error_code == 401, first  # a TURN server with auth answers 401 first
        realm, nonce = first.attributes["REALM"], first.attributes["NONCE"]
        key = make_integrity_key(username, realm, password)
        request = stun.Message(stun.Method.ALLOCATE, stun.Class.REQUEST, attributes={
            "REQUESTED-TRANSPORT": udp, "USERNAME": username, "REALM": realm, "NONCE": nonce})
        request.add_message_integrity(key)
        answer = _exchange(sock, port, request, timeout)
        if answer.message_class != stun.Class.RESPONSE:
            return Allocation(error=answer.error_code or 0)
        assert answer.check_message_integrity(key), "the server's answer is not signed with our key"
        relayed = tuple(answer.attributes["XOR-RELAYED-ADDRESS"])
        release = stun.Message(stun.Method.REFRESH, stun.Class.REQUEST, attributes={
            "LIFETIME": 0, "USERNAME": username, "REALM": realm, "NONCE": nonce})
        release.add_message_integrity(key)
        _exchange(sock, port, release, timeout)
    return Allocation(error=None, relayed=relayed)  # type: ignore[arg-type]


class TurnServer:
    """coturn on 127.0.0.1, ``use-auth-secret`` with a random ``static-auth-secret``."""

    def __init__(self, tmp_path: Path, realm: str = REALM, timeout: float = 10.0) -> None:
        self.port = _free_udp_and_tcp_port()
        self.secret = secrets.token_hex(16)
        self.realm = realm
        self.log_path = Path(tmp_path) / f"turnserver-{self.port}.log"
        self.proc = subprocess.Popen([
            TURNSERVER, "-n",  # no configuration file: everything is here
            "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={self.port}",
            "--use-auth-secret", f"--static-auth-secret={self.secret}", f"--realm={realm}",
            "--fingerprint", "--no-tls", "--no-dtls", "--allow-loopback-peers", "--no-cli",
            "--no-multicast-peers", f"--log-file={self.log_path}", "--simple-log",
            f"--pidfile={Path(tmp_path) / f'turnserver-{self.port}.pid'}", "--verbose",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"turnserver exited ({self.proc.returncode}): {self.log()[-2000:]}")
            try:
                binding(self.port, timeout=0.5)
                return
            except (TimeoutError, OSError):
                gevent.sleep(0.05)
        self.stop()
        raise AssertionError(f"turnserver did not answer within {timeout} s: {self.log()[-2000:]}")

    @property
    def urls(self) -> list[str]:
        """The TURN URLs of this server, UDP and TCP."""
        return [f"turn:127.0.0.1:{self.port}?transport=udp", f"turn:127.0.0.1:{self.port}?transport=tcp"]

    def app_settings(self, **extra: Any) -> dict[str, Any]:
        """The app's config pointing at this server (``make_test_config(**...)``)."""
        return {"TURN_URLS": self.urls, "TURN_SECRET": self.secret, **extra}

    def env(self) -> dict[str, str]:
        """The same as ``ITCOOK_*`` variables, for server processes."""
        return {"ITCOOK_TURN_URLS": ",".join(self.urls), "ITCOOK_TURN_SECRET": self.secret}

    def log(self) -> str:
        """What the server logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL if it lingers)."""
        stop_process(self.proc, signal.SIGTERM, timeout=5)
