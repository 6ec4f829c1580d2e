"""Real processes sharing PostgreSQL and Redis: server subprocesses, a controllable TCP proxy."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import requests
from gevent.server import StreamServer
from sqlalchemy import text

from itcook import create_app
from itcook.extensions import db
from tests.support.servers import free_port, make_test_config

ROOT = Path(__file__).resolve().parents[2]  # the checkout: servers run `python wsgi.py` there
#: The server (``ITCOOK_TEST_PG_URL``, database ``test`` by default) and, on it, a database of the
#: scale-out tests' own, so they never clobber the PostgreSQL run of the rest of the suite.
PG_SERVER_URL = os.environ.get("ITCOOK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# ITCOOK_TEST_SCALEOUT_DB names it, so that several checkouts can run the suite on one server.
SCALEOUT_DB = os.environ.get("ITCOOK_TEST_SCALEOUT_DB", "itcook_scaleout_test")
PG_URL = PG_SERVER_URL.rsplit("/", 1)[0] + "/" + SCALEOUT_DB
REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("ITCOOK_TEST_REDIS_PORT", "6379"))
JWT_SECRET = "cluster-test-secret-" + "z" * 40


def answers(url: str) -> bool:
    """Whether the app at ``url`` serves requests (an anonymous ``/auth/me`` is refused with 401)."""
    try:
        return requests.get(f"{url}/api/v1/auth/me", timeout=2).status_code == 401
    except requests.RequestException:
        return False


def stop_process(proc: subprocess.Popen[bytes], signum: int, timeout: float) -> None:
    """Send ``signum`` to ``proc`` and wait ``timeout`` seconds for it to exit; kill it if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signum)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class Server:
    """One ``python wsgi.py`` process of the cluster."""

    def __init__(self, env: dict[str, str], name: str) -> None:
        self.port = free_port()
        self.name = name
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/v1/realtime/ws"
        self.log_path = Path(env["ITCOOK_TEST_LOG_DIR"]) / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "wsgi.py"], cwd=ROOT,
                                     env={**env, "ITCOOK_PORT": str(self.port)},
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            if answers(self.url):
                return
            gevent.sleep(0.05)
        raise AssertionError(f"{self.name} did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig, timeout=15)
        self._log.close()


class Cluster:
    """Start and stop servers that share one database and one Redis prefix."""

    def __init__(self, tmp_path: Path, redis_port: int, **settings: str) -> None:
        self.prefix = "itcook-test-" + secrets.token_hex(4)
        self.env = {
            **os.environ,
            "ITCOOK_DATABASE_URL": PG_URL,
            "ITCOOK_BROKER_URL": f"redis://{REDIS_HOST}:{redis_port}/0",
            "ITCOOK_BROKER_PREFIX": self.prefix,
            "ITCOOK_JWT_SECRET": JWT_SECRET,
            "ITCOOK_ARGON2_TIME_COST": "1", "ITCOOK_ARGON2_MEMORY_KIB": "1024",
            "ITCOOK_ARGON2_PARALLELISM": "1",
            "ITCOOK_AUTH_LIMIT_PER_ADDRESS": "100000/minute",
            "ITCOOK_AUTH_LIMIT_PER_ACCOUNT": "100000/minute",
            "ITCOOK_EXPIRY_SCAN_INTERVAL": "0",
            "ITCOOK_LOG_LEVEL": "WARNING",
            "ITCOOK_REALTIME_STATS_INTERVAL": "0.2",
            "ITCOOK_TEST_LOG_DIR": str(tmp_path),
            **settings,
        }
        self.servers: list[Server] = []

    def start(self, count: int = 1, **settings: str) -> list[Server]:
        """Start ``count`` servers, with ``settings`` (ITCOOK_* variables) over the cluster's."""
        env = {**self.env, **settings}
        started = [Server(env, f"server{len(self.servers) + i}") for i in range(count)]
        self.servers += started
        return started

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _ensure_database() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            name = PG_URL.rsplit("/", 1)[1]
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()


def reset_database() -> None:
    """Empty the PostgreSQL schema the servers share (creating their database if needed)."""
    _ensure_database()
    app = create_app(make_test_config(Path("/tmp"), DATABASE_URL=PG_URL))
    with app.app_context():
        # The whole schema goes, whatever another checkout's schema left in it (tables this
        # code does not know would keep drop_all from dropping the ones they reference).
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.create_all()
        db.engine.dispose()


class TcpProxy:
    """A TCP proxy in front of Redis that a test can cut off and bring back on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: StreamServer | None = None
        self._pairs: list[tuple[Any, Any]] = []
        self.start()

    def _handle(self, client: Any, _address: Any) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        self._pairs.append((client, upstream))

        def pipe(src: Any, dst: Any) -> None:
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        gevent.joinall([gevent.spawn(pipe, client, upstream), gevent.spawn(pipe, upstream, client)])
        client.close()
        upstream.close()

    def start(self) -> None:
        self._server = StreamServer(("127.0.0.1", self.port), self._handle)
        self._server.start()

    def cut(self) -> None:
        """Refuse new connections and break every open one."""
        for pair in self._pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the pipes see EOF and end by themselves
                except OSError:
                    pass
        self._pairs.clear()
        if self._server is not None:
            self._server.stop(timeout=2)
            self._server = None
