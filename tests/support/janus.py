"""A real Janus (Debian's ``janus``) for the tests: its own configuration in a temporary folder,
loopback only, token authentication on, the VideoRoom plugin and the HTTP transport alone.

``start_janus(folder)`` writes the configuration, starts ``janus -C … -F …``, waits until
``GET /janus/info`` answers and returns a ``JanusServer``; ``stop()`` ends that process (and only
it). ``janus_missing()`` says why Janus cannot run here; ``skip_without_janus()`` skips with that
reason, or fails when ``ITCOOK_REQUIRE_MEDIA=1`` (CI) asks for the real thing.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.cluster import stop_process
from tests.support.servers import free_port

JANUS = os.environ.get("ITCOOK_JANUS_BINARY", "/usr/bin/janus")
#: Seconds Janus may take to answer its first ``info`` request.
START_TIMEOUT = 20.0


def _module_folder(kind: str) -> str | None:
    """Where Debian put Janus's ``plugins`` or ``transports`` (the multiarch path varies)."""
    found = sorted(glob.glob(f"/usr/lib/*/janus/{kind}")) + sorted(glob.glob(f"/usr/lib/janus/{kind}"))
    return found[0] if found else None


def janus_missing() -> str | None:
    """Why a Janus cannot be started here, or None."""
    if not (os.path.exists(JANUS) or shutil.which(JANUS)):
        return f"Janus not found at {JANUS} (apt-get install janus, or set ITCOOK_JANUS_BINARY)"
    for kind, module in (("plugins", "libjanus_videoroom.so"), ("transports", "libjanus_http.so")):
        folder = _module_folder(kind)
        if folder is None or not os.path.exists(os.path.join(folder, module)):
            return f"Janus's {module} not found under /usr/lib/*/janus/{kind}"
    return None


def skip_without_janus() -> None:
    """Skip the calling test when Janus is missing, unless ``ITCOOK_REQUIRE_MEDIA=1``."""
    reason = janus_missing()
    if reason is None:
        return
    if os.environ.get("ITCOOK_REQUIRE_MEDIA") == "1":
        pytest.fail(f"ITCOOK_REQUIRE_MEDIA=1 but {reason}")
    pytest.skip(f"Janus tests skipped: {reason}")


@dataclass
class JanusServer:
    """A running Janus: its browser-facing and admin URLs, the admin secret, the process."""

    url: str
    admin_url: str
    admin_secret: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """End this Janus process (SIGTERM, then SIGKILL after 5 s)."""
        stop_process(self.process, signal.SIGTERM, timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        """The end of Janus's log, for a failure's message."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _only(folder: Path, source: str, module: str) -> str:
    """A folder holding a link to ``module`` alone: Janus loads every module of its folder."""
    folder.mkdir()
    (folder / module).symlink_to(os.path.join(source, module))
    return str(folder)


def write_config(folder: Path, port: int, admin_port: int, admin_secret: str) -> Path:
    """Janus's configuration for the tests, in ``folder``; the path of its janus.jcfg.

    ICE gathers on loopback only and without STUN; browsers' ``.local`` (mDNS) candidates are
    not resolved: a viewer's checks reach Janus's loopback candidate and become peer-reflexive.
    """
    plugins = _only(folder / "plugins", _module_folder("plugins") or "", "libjanus_videoroom.so")
    transports = _only(folder / "transports", _module_folder("transports") or "", "libjanus_http.so")
    empty = folder / "none"
    empty.mkdir()
    (folder / "janus.jcfg").write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{empty}"
    loggers_folder = "{empty}"
    debug_level = 4
    token_auth = true
    admin_secret = "{admin_secret}"
    session_timeout = 60
    server_name = "itcook-tests"
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "lo,127.0.0.1"
    ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
loggers: {{
}}
events: {{
    broadcast = false
}}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    ip = "127.0.0.1"
    port = {port}
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = true
    admin_ip = "127.0.0.1"
    admin_port = {admin_port}
    admin_https = false
}}
cors: {{
}}
""")
    # No rooms of its own: the app creates every room through the API.
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    return folder / "janus.jcfg"


def start_janus(folder: Path) -> JanusServer:
    """Configure and start a Janus under ``folder``; return once its HTTP API answers."""
    folder.mkdir(parents=True, exist_ok=True)
    port, admin_port = free_port(), free_port()
    while admin_port == port:
        admin_port = free_port()
    secret = secrets.token_urlsafe(24)
    config = write_config(folder, port, admin_port, secret)
    log = folder / "janus.log"  # Janus's own log (-L); what it prints before logging starts: janus.out
    with (folder / "janus.out").open("wb") as out:
        process = subprocess.Popen([JANUS, "-C", str(config), "-F", str(folder), "-o", "-N", "-L", str(log)],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = JanusServer(f"http://127.0.0.1:{port}/janus", f"http://127.0.0.1:{admin_port}/admin",
                         secret, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"janus exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(server.url + "/info", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"janus did not answer within {START_TIMEOUT} s:\n{server.log_tail()}")
        time.sleep(0.1)  # polling a process we started: nothing to wait on but its socket
