"""Processes of a benchmark run: servers pinned to one core, the C load generator on the other.

The driver (this process) runs on the load generator's core and only waits: it starts servers,
sends control requests (``/bench/publish``, ``/bench/ready``), and reads the load generator's
one-line JSON answers. Arrival times come from the load generator and trigger times from here;
both are ``CLOCK_MONOTONIC`` nanoseconds, so latencies are plain differences.
"""

from __future__ import annotations

import array
import http.client
import json
import os
import platform
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from tests.support.rest import Api
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PYTHON = sys.executable
JWT_SECRET = "bench-only-secret-" + "b" * 40
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


class BenchError(Exception):
    """A scenario could not be measured (a process died, a handshake failed, a time bound hit)."""


# -- cores ---------------------------------------------------------------------------------------
def core_sets() -> tuple[set[int], set[int]]:
    """(server cores, load generator cores): different cores where the machine has two."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return set(cores), set(cores)
    return {cores[0]}, set(cores[1:])


SERVER_CPUS, CLIENT_CPUS = core_sets()
#: Every core this run may use. Read here, at import: the driver later pins itself to
#: CLIENT_CPUS, after which its own affinity no longer tells what the machine has.
ALL_CPUS = sorted(SERVER_CPUS | CLIENT_CPUS)


def raise_nofile() -> int:
    """Raise this process's soft file limit to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def clean_environ() -> dict[str, str]:
    """This environment without ``ITCOOK_*``: a server gets exactly the settings a scenario gives."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ITCOOK_")}


def _pinned(cpus: set[int]) -> Any:
    def setup() -> None:
        os.sched_setaffinity(0, cpus)
        raise_nofile()
        os.setsid()  # its own process group: stopping it never signals the driver
    return setup


# -- HTTP ----------------------------------------------------------------------------------------
# Set-up calls to the REST API (registering users) go through the tests' client,
# tests/support/rest.py. Control requests and every request that is timed use http.client on one
# kept-alive connection: requests costs 1-3 ms more per call on a loaded 2-core machine, which
# would land inside the latencies measured (a publish is the trigger of a fan-out).
def request(port: int, method: str, path: str, body: Any = None, token: str | None = None,
         timeout: float = 60.0, conn: http.client.HTTPConnection | None = None) -> tuple[int, Any]:
    """One request to 127.0.0.1:``port``; returns (status, decoded JSON or text)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        if own:
            conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")


# -- servers -------------------------------------------------------------------------------------
@dataclass
class Server:
    """One server process (``python -m <module>``), pinned, with its log in the run's folder."""

    name: str
    module: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    cpus: set[int] = field(default_factory=lambda: set(SERVER_CPUS))
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / f"{self.name}-{self.port}.log"
        self._log = self.log_path.open("wb")
        env = {**clean_environ(), **self.env, "ITCOOK_PORT": str(self.port), "PYTHONPATH": str(ROOT)}
        # The port goes in the environment (IT Cook) and as the argument (the baselines).
        self.proc = subprocess.Popen([PYTHON, "-m", self.module, str(self.port)], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     preexec_fn=_pinned(self.cpus))
        self.ps = psutil.Process(self.proc.pid)
        try:
            self._wait_ready()
        except BaseException:
            self.stop(timeout=5)
            raise

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited at start: {self.log_tail()}")
            try:
                if request(self.port, "GET", "/bench/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"{self.name} did not answer within {timeout:.0f} s: {self.log_tail()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> int:
        return int(self.ps.memory_info().rss)

    def fds(self) -> int:
        return int(self.ps.num_fds())

    def cpu(self) -> float:
        times = self.ps.cpu_times()
        return float(times.user + times.system)

    def ready(self, channel: str = "system") -> dict[str, Any]:
        status, body = request(self.port, "GET", f"/bench/ready?channel={channel}", timeout=30)
        if status != 200:
            raise BenchError(f"{self.name} /bench/ready answered {status}: {body}")
        return dict(body)

    def wait_subscribers(self, count: int, channel: str = "system", timeout: float = 30.0) -> None:
        """Until the next event on ``channel`` reaches ``count`` connections."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            seen = int(self.ready(channel)["subscribers"])
            if seen >= count:
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name}: {seen} of {count} connections subscribed after {timeout:.0f} s")

    def publish(self, count: int = 1, channel: str = "system",
                conn: http.client.HTTPConnection | None = None) -> int:
        """Publish ``count`` events back to back; return the last sequence number."""
        status, body = request(self.port, "POST", f"/bench/publish?count={count}&channel={channel}",
                            conn=conn, timeout=120)
        if status != 200:
            raise BenchError(f"{self.name} /bench/publish answered {status}: {body}")
        return int(body["last_seq"])

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (IT Cook closes its streams with 1001), then SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def itcook_env(database_url: str, **extra: str) -> dict[str, str]:
    """The settings of an IT Cook server under benchmark (see docs/BENCHMARKS.md)."""
    env = {
        "ITCOOK_DATABASE_URL": database_url,
        "ITCOOK_JWT_SECRET": JWT_SECRET,
        "ITCOOK_HOST": "127.0.0.1",
        "ITCOOK_LOG_LEVEL": "WARNING",
        "ITCOOK_ACCESS_TOKEN_MINUTES": "600",
        # Registration is not what is measured: cheap password hashing.
        "ITCOOK_ARGON2_TIME_COST": "1", "ITCOOK_ARGON2_MEMORY_KIB": "64", "ITCOOK_ARGON2_PARALLELISM": "1",
        # Every benchmark user registers and logs in from 127.0.0.1.
        "ITCOOK_AUTH_LIMIT_PER_ADDRESS": "1000000/minute", "ITCOOK_AUTH_LIMIT_PER_ACCOUNT": "1000000/minute",
        # One user holds every benchmark connection.
        "ITCOOK_REALTIME_MAX_CONNECTIONS_PER_USER": "100000",
        # Keep-alives are not what is measured, and must not land inside a measurement window;
        # the clients never speak, so the idle timeout must outlast the run.
        "ITCOOK_REALTIME_HEARTBEAT_INTERVAL": "3600", "ITCOOK_REALTIME_SSE_KEEPALIVE_INTERVAL": "3600",
        "ITCOOK_REALTIME_IDLE_TIMEOUT": "7200",
        "ITCOOK_REALTIME_PRUNE_INTERVAL": "0", "ITCOOK_EXPIRY_SCAN_INTERVAL": "0",
    }
    env.update(extra)
    return env


def migrate(database_url: str) -> None:
    """Create the schema with ``flask db upgrade``, as a deployment does."""
    result = subprocess.run([str(Path(PYTHON).parent / "flask"), "--app", "wsgi", "db", "upgrade"],
                            cwd=ROOT, env={**clean_environ(), **itcook_env(database_url)},
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise BenchError(f"flask db upgrade failed: {result.stderr[-1500:]}")


def register(server: Server, username: str = "bench") -> dict[str, Any]:
    """A new user through ``POST /api/v1/auth/register``: ``user``, ``access_token``, ``headers``."""
    api = Api(server)
    try:
        return api.register(username, "bench-password-1")
    finally:
        api.close()  # no idle keep-alive connection left in the server's file count


# -- the load generator --------------------------------------------------------------------------
def build_loadgen(workdir: Path) -> Path:
    """Compile bench/loadgen.c with the system compiler (about a second)."""
    binary = workdir / "loadgen"
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise BenchError("no C compiler (cc/gcc) found: install gcc")
    subprocess.run([compiler, "-O2", "-Wall", "-o", str(binary), str(BENCH / "loadgen.c")], check=True)
    return binary


class LoadGen:
    """The C load generator as a child process, driven one command at a time."""

    def __init__(self, binary: Path, port: int, mode: str, path: str, *, headers: Iterable[str] = (),
                 seq_key: str = "seq", max_conns: int = 20000, cpus: set[int] | None = None,
                 workdir: Path) -> None:
        self.dump = workdir / f"done-{port}-{id(self)}.bin"
        argv = [str(binary), "--port", str(port), "--mode", mode, "--path", path, "--seq-key", seq_key,
                "--max", str(max_conns), "--dump", str(self.dump)]
        for header in headers:
            argv += ["--header", header]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     preexec_fn=_pinned(cpus if cpus is not None else CLIENT_CPUS))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._out = self.proc.stdout.fileno()
        self._buf = b""

    def cpu(self) -> float:
        """User + system CPU seconds the load generator has used so far."""
        try:
            times = psutil.Process(self.proc.pid).cpu_times()
            return float(times.user + times.system)
        except psutil.Error:
            return 0.0

    def _send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def _line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"load generator silent for {timeout:.0f} s")
            ready, _, _ = select.select([self._out], [], [], left)
            if ready:
                chunk = os.read(self._out, 65536)
                if not chunk:
                    raise BenchError(f"load generator exited ({self.proc.wait()})")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def _json(self, timeout: float) -> dict[str, Any]:
        return dict(json.loads(self._line(timeout)))

    def connect(self, total: int, inflight: int = 200, timeout: float | None = None) -> dict[str, Any]:
        """Open connections until ``total`` are up (handshakes complete)."""
        if timeout is None:
            timeout = 30.0 + total * 0.004
        self._send(f"connect {total} {inflight} {int(timeout * 1000)}")
        return self._json(timeout + 30)

    def arm(self, frames: int, timeout: float) -> None:
        """Every open connection now expects ``frames`` more events; call ``result`` after the trigger."""
        self._armed_timeout = timeout
        self._send(f"arm {frames} {int(timeout * 1000)}")
        answer = self._line(10)
        if answer != "armed":
            raise BenchError(f"load generator answered {answer!r} to arm")

    def result(self) -> dict[str, Any]:
        return self._json(self._armed_timeout + 30)

    def send(self, text: str) -> dict[str, Any]:
        """Every open WebSocket sends ``text`` (ASCII, under 126 bytes) as one text frame."""
        self._send(f"send {text}")
        return self._json(30)

    def done_times(self) -> array.array[int]:
        """When each connection got the armed window's last frame (monotonic ns)."""
        times = array.array("q")
        data = self.dump.read_bytes()
        times.frombytes(data)
        return times

    def storm(self, inflight: int, timeout: float) -> dict[str, Any]:
        """Drop every connection and resume each with its last event id."""
        self._send(f"storm {inflight} {int(timeout * 1000)}")
        return self._json(timeout + 30)

    def verify(self, seq: int, timeout: float) -> dict[str, Any]:
        """Wait until every connection has seen ``seq``; report gaps and duplicates."""
        self._send(f"verify {seq} {int(timeout * 1000)}")
        return self._json(timeout + 30)

    def setid(self, event_id: int, seq: int) -> None:
        self._send(f"setid {event_id} {seq}")
        self._json(10)

    def close(self) -> None:
        self._send("close")
        self._json(60)

    def quit(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send("quit")
                self.proc.wait(30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


# -- numbers -------------------------------------------------------------------------------------
def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return float(sorted_values[rank - 1])


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return percentile(ordered, 50) if ordered else float("nan")


# -- where and with what -------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """CPU model, cores, kernel, memory and the file limit of this machine."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return {"cpu_model": model or platform.processor(), "cores": os.cpu_count(),
            "kernel": platform.release(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "nofile_soft": soft, "nofile_hard": hard,
            "server_cpus": sorted(SERVER_CPUS), "loadgen_cpus": sorted(CLIENT_CPUS)}


def versions() -> dict[str, str]:
    """Python, the libraries under test and the baselines, the compiler, and the git commit."""
    found = {"python": platform.python_version()}
    for name in ("gevent", "greenlet", "flask", "flask-sock", "simple-websocket", "wsproto",
                 "flask-socketio", "python-socketio", "python-engineio", "gevent-websocket",
                 "sqlalchemy", "psycopg", "redis", "psutil"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        cc = subprocess.run(["cc", "--version"], capture_output=True, text=True, timeout=10)
        found["cc"] = cc.stdout.splitlines()[0] if cc.stdout else "?"
    except OSError:
        found["cc"] = "not found"
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "itcook"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        found["itcook_commit"] = head + ("+uncommitted changes in itcook/" if dirty else "")
    except OSError:
        pass
    return found


def workdir() -> Path:
    """A scratch folder on tmpfs when there is one: the event log's disk is not what we measure."""
    base = "/dev/shm" if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="itcook-bench-", dir=base))
