"""The production shape for real: deploy/nginx.conf in front of gunicorn's gevent workers on
PostgreSQL and Redis, and ``python wsgi.py``; every process a child of the test.

nginx is Debian's (``/usr/sbin/nginx``, or ``ITCOOK_NGINX``); ``skip_reason`` says why a
deployment test cannot run here, or raises under ``ITCOOK_REQUIRE_NGINX=1`` (CI).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gevent
import pytest

from tests.support.cluster import REDIS_PORT, ROOT, Cluster, answers, reset_database, stop_process
from tests.support.servers import free_port, reachable
from tests.support.waiting import wait_for

NGINX = os.environ.get("ITCOOK_NGINX", "/usr/sbin/nginx")
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
#: nginx's read timeout in the tests: the streams' heartbeats (0.3 s) must keep them past it.
PROXY_READ_TIMEOUT = 1.0
#: Server settings of every process here: fast heartbeats, a grace period far longer than any
#: wait of a test, so a stop that waits for it instead of closing streams at once fails.
SETTINGS = {"ITCOOK_PROXY_COUNT": "1", "ITCOOK_SHUTDOWN_GRACE": "30",
            "ITCOOK_REALTIME_HEARTBEAT_INTERVAL": "0.3", "ITCOOK_REALTIME_SSE_KEEPALIVE_INTERVAL": "0.3"}


def _missing(nginx: bool = True) -> str | None:
    if nginx and not (os.path.exists(NGINX) or shutil.which(NGINX)):
        return f"nginx not found at {NGINX} (apt-get install nginx-light, or set ITCOOK_NGINX)"
    services = [name for name, port in (("PostgreSQL", 5432), ("Redis", REDIS_PORT))
                if not reachable("127.0.0.1", port)]
    if services:
        return f"{' and '.join(services)} not reachable on 127.0.0.1"
    return None


def skip_reason(nginx: bool = True) -> str | None:
    """Why a deployment test cannot run here (None: it can); an error if CI requires nginx."""
    reason = _missing(nginx)
    if reason and "nginx" in reason and os.environ.get("ITCOOK_REQUIRE_NGINX") == "1":
        raise pytest.UsageError(f"ITCOOK_REQUIRE_NGINX=1 but {reason}")
    return reason and f"deployment tests skipped: {reason}"


def children(pid: int) -> set[int]:
    """The live child processes of ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


class Process:
    """A server process of the test, its output in ``log``; ``url``/``port`` where clients go."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.log = log
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._out = log.open("wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not answers(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.log.name} did not start: {self.output()[-3000:]}")
            gevent.sleep(0.05)

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit status, waited for up to ``timeout`` seconds (yielding to gevent)."""
        wait_for(lambda: self.proc.poll() is not None, timeout, f"{self.log.name} to exit")
        return self.proc.returncode

    def stop(self, signum: int = signal.SIGTERM) -> None:
        stop_process(self.proc, signum, timeout=70)
        self._out.close()


def server_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a scale-out process: the cluster tests' PostgreSQL database and a
    Redis prefix of its own, plus ``SETTINGS`` and ``settings``."""
    return Cluster(tmp_path, REDIS_PORT, **{**SETTINGS, **settings}).env


def start_gunicorn(tmp_path: Path, workers: int = 2, python: str = sys.executable,
                   **settings: str) -> Process:
    """gunicorn -c gunicorn.conf.py wsgi:app, as docs/deployment.md and deploy/itcook.service run
    it, with the interpreter (and so the installed packages) of ``python``."""
    port = free_port()
    env = {**server_env(tmp_path, **settings), "ITCOOK_BIND": f"127.0.0.1:{port}",
           "ITCOOK_WORKERS": str(workers)}
    version = subprocess.run([python, "-c", "import gunicorn; print(gunicorn.__version__)"],
                             capture_output=True, text=True, check=True).stdout
    args = [python, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
    if tuple(int(part) for part in version.split(".")[:2]) >= (25, 1):
        args.append("--no-control-socket")  # one per user by default: parallel runs would share it
    server = Process(args, env, tmp_path / "gunicorn.log", port)
    server.wait_ready()
    wait_for(lambda: len(children(server.proc.pid)) == workers, 30, "the workers to boot")
    return server


def render_nginx_conf(prefix: Path, port: int, upstream_port: int) -> Path:
    """deploy/nginx.conf for a test: plain HTTP on loopback ``port`` (its TLS server block
    without TLS), the upstream on ``upstream_port``, files under ``prefix``, short read timeout."""
    text = NGINX_CONF.read_text()
    user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the temp files
    replacements = [
        (r"(?m)^user .*;$", user),
        (r"(?m)^worker_processes .*;$", "worker_processes 1;"),
        (r"(?m)^pid .*;$", f"pid {prefix}/nginx.pid;"),
        (r"(?m)^error_log .*;$", f"error_log {prefix}/error.log info;"),
        (r"(?m)^(\s*)access_log .*;$", rf"\1access_log {prefix}/access.log;"),
        (r"(?m)^http \{$", "http {\n" + "".join(
            f"    {name}_temp_path {prefix}/{name};\n"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))),
        (r"server 127\.0\.0\.1:3000;", f"server 127.0.0.1:{upstream_port};"),
        (r"(?s)    server \{\n        listen 80;.*?\n    \}\n", ""),  # the redirect to https
        (r"(?m)^\s*listen 443 ssl http2;$", f"        listen 127.0.0.1:{port};"),
        (r"(?m)^\s*listen \[::\]:443 ssl http2;\n", ""),
        (r"(?m)^\s*ssl_\w+ .*;\n", ""),
        (r"proxy_read_timeout 75s;", f"proxy_read_timeout {int(PROXY_READ_TIMEOUT * 1000)}ms;"),
    ]
    for pattern, replacement in replacements:
        text, count = re.subn(pattern, replacement, text)
        assert count, f"deploy/nginx.conf no longer has {pattern!r}: update render_nginx_conf"
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


def start_nginx(tmp_path: Path, upstream: Process) -> Process:
    """nginx with the rendered deploy/nginx.conf in front of ``upstream``, in the foreground."""
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    port = free_port()
    conf = render_nginx_conf(prefix, port, upstream.port)
    test = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf)], capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    server = Process([NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"], dict(os.environ),
                     prefix / "nginx.log", port)
    server.wait_ready()
    return server


class Deployment:
    """nginx (``url``, ``port``: what clients use) in front of gunicorn (``gunicorn``)."""

    def __init__(self, nginx: Process, gunicorn: Process) -> None:
        self.nginx, self.gunicorn = nginx, gunicorn
        self.url, self.port = nginx.url, nginx.port
        self.origin = f"http://127.0.0.1:{nginx.port}"  # what a browser on the public site sends


@contextmanager
def deployed(tmp_path: Path) -> Iterator[Deployment]:
    """deploy/nginx.conf in front of two gunicorn gevent workers on PostgreSQL and Redis (the
    schema emptied first), stopped on leaving."""
    reset_database()
    gunicorn = start_gunicorn(tmp_path)
    try:
        nginx = start_nginx(tmp_path, gunicorn)
    except BaseException:
        gunicorn.stop()
        raise
    try:
        yield Deployment(nginx, gunicorn)
    finally:
        nginx.stop(signal.SIGQUIT)
        gunicorn.stop()


def raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    """A connected socket that has sent ``head`` (CRLF line ends added) and ``body``."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
    return sock


def read_until(sock: socket.socket, timeout: float, done: Any = lambda data: False) -> bytes:
    """What ``sock`` receives until ``done(data)`` or the peer closes; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    data = b""
    while not done(data):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"nothing ended in time: {data[-300:]!r}"
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            raise AssertionError(f"the connection was reset: {data[-300:]!r}") from None
        if not chunk:
            break
        data += chunk
    return data
