"""Every setting with its default, read from ``ITCOOK_*`` environment variables.

The table in docs/deployment.md is generated from ``SETTINGS`` by ``flask itcook settings``,
so this module is the one place where a setting is declared.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itcook.realtime import settings as realtime_settings

log = logging.getLogger(__name__)


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


#: How an ``ITCOOK_REALTIME_*`` value is read, by the type of the plugin's option.
_PARSERS: dict[type, Callable[[str], Any]] = {str: str, int: int, float: float, bool: _bool, list: _csv}
#: Plugin options IT Cook sets itself (create_app): its BROKER_* settings feed the broker.
_HOST_SET = frozenset({"BROKER_URL", "BROKER_PREFIX", "URL_PREFIX", "ROOT_METRICS"})
_PLUGIN_HELP = {option.key: option.help for option in realtime_settings.OPTIONS}


@dataclass(frozen=True)
class Setting:
    """One configuration key: its Flask name, parser, default and meaning."""

    key: str
    parse: Callable[[str], Any]
    default: Any
    help: str

    @property
    def env(self) -> str:
        return f"ITCOOK_{self.key}"


SETTINGS: tuple[Setting, ...] = (
    Setting("ENV", str, "development", "`development` or `production` (production refuses "
            "to start without an explicit JWT secret)"),
    Setting("HOST", str, "127.0.0.1", "address `python wsgi.py` listens on"),
    Setting("PORT", int, 3000, "port `python wsgi.py` listens on"),
    Setting("GC_FULL_EVERY", int, 100, "generation-1 collections before a serving process "
            "considers a full garbage collection (CPython's default is 10; a full one walks every "
            "object of every connection: ~0.3 s at 10k); 0 = leave CPython's setting"),
    Setting("HTTP_HEADER_TIMEOUT", float, 20.0, "seconds `python wsgi.py` gives a client to send a "
            "request's line and headers, idle keep-alive included (slowloris); gunicorn uses `keepalive`"),
    Setting("SHUTDOWN_GRACE", float, 30.0, "seconds a graceful stop (SIGTERM, a gunicorn reload) gives "
            "requests in flight; streams are closed (1001) at its start"),
    Setting("PROXY_COUNT", int, 0, "reverse proxies in front of the app whose `X-Forwarded-For`, "
            "`-Proto` and `-Host` are trusted (nginx alone: 1); 0 = not behind a proxy, the headers "
            "are ignored"),
    Setting("DATABASE_URL", str, "", "SQLAlchemy URL; empty = SQLite file `instance/itcook.db`; "
            "PostgreSQL as `postgresql+psycopg://user@host/db`"),
    Setting("JWT_SECRET", str, "", "HS256 signing key; empty in development = generated once "
            "into `instance/jwt-secret`"),
    Setting("ACCESS_TOKEN_MINUTES", int, 15, "lifetime of access tokens"),
    Setting("REFRESH_TOKEN_DAYS", int, 30, "lifetime of refresh tokens"),
    Setting("ARGON2_TIME_COST", int, 3, "argon2id passes per password hash"),
    Setting("ARGON2_MEMORY_KIB", int, 65536, "argon2id memory per password hash (KiB)"),
    Setting("ARGON2_PARALLELISM", int, 4, "argon2id lanes per password hash"),
    Setting("AUTH_LIMIT_PER_ADDRESS", str, "30/minute", "logins and registrations one client "
            "address may attempt (moving window; 429 `too_many_attempts` with `Retry-After` past "
            "it; shared through the broker's Redis in scale-out); empty = no limit"),
    Setting("AUTH_LIMIT_PER_ACCOUNT", str, "10/minute", "logins (and registrations) aimed at one "
            "username, from any address; empty = no limit"),
    Setting("PASSWORD_HASH_THREADS", int, 2, "OS threads per process that hash passwords off the "
            "event loop, at niceness 10 (more logins at once queue for them; the loop keeps serving)"),
    Setting("MAX_CONTENT_LENGTH", int, 1_048_576, "largest accepted request body in bytes (413 past it)"),
    Setting("PAGE_SIZE", int, 20, "default page size of list routes"),
    Setting("MAX_PAGE_SIZE", int, 100, "largest `per_page` a client may ask for"),
    Setting("LOG_LEVEL", str, "INFO", "Python logging level"),
    Setting("EXPIRY_SCAN_INTERVAL", float, 3600.0, "seconds between fridge expiry scans; 0 = off"),
    Setting("EXPIRY_SCAN_DAYS", int, 3, "an item expiring within this many days is announced"),
    Setting("RECIPE_GENERATOR", str, "local", "`local` (built in, deterministic) or `http`"),
    Setting("RECIPE_HTTP_URL", str, "", "OpenAI-compatible `/v1/chat/completions` URL for `http`"),
    Setting("RECIPE_HTTP_MODEL", str, "gpt-4o-mini", "model name sent to the HTTP generator"),
    Setting("RECIPE_HTTP_API_KEY", str, "", "bearer key sent to the HTTP generator"),
    Setting("RECIPE_HTTP_TIMEOUT", float, 30.0, "seconds before an HTTP generation fails"),
    # The plugin's broker options, which these feed (create_app), with IT Cook's own prefix.
    Setting("BROKER_URL", str, "memory://", _PLUGIN_HELP["BROKER_URL"]),
    Setting("BROKER_PREFIX", str, "itcook", _PLUGIN_HELP["BROKER_PREFIX"]),
    # The real-time plugin's settings: its defaults and meanings, under ITCOOK_REALTIME_*.
    *(Setting(f"REALTIME_{option.key}", _PARSERS[option.type], option.default, option.help)
      for option in realtime_settings.OPTIONS if option.key not in _HOST_SET),
    Setting("PUSH_VAPID_PRIVATE_KEY", str, "", "VAPID private key for Web Push (base64url of the "
            "32-byte P-256 key, or PEM); empty = generated once into `instance/vapid-private.pem`, "
            "except in production, where Web Push is then off"),
    Setting("PUSH_VAPID_SUBJECT", str, "mailto:admin@localhost", "contact in the VAPID token "
            "(`mailto:` or `https:` URL); push services may refuse `localhost`"),
    Setting("PUSH_TTL", int, 86400, "seconds a push service keeps a message for an unreachable device"),
    Setting("PUSH_CONCURRENCY", int, 8, "push requests in flight at once, per process"),
    Setting("PUSH_QUEUE_SIZE", int, 10_000, "pushes waiting to be sent, per process; past it new "
            "ones are dropped (and counted)"),
    Setting("PUSH_MAX_ATTEMPTS", int, 4, "tries of one push on 429, 5xx, timeouts and connection errors"),
    Setting("PUSH_RETRY_DELAY", float, 1.0, "seconds before the first retry; doubles on each "
            "(a longer `Retry-After` wins, up to 60 s)"),
    Setting("PUSH_TIMEOUT", float, 10.0, "seconds to connect to, and to wait for, a push service"),
    Setting("PUSH_BUDGET_PER_HOUR", int, 30, "notifications pushed to one user per clock hour, "
            "counted in the database across processes; past it they are only in the inbox (and "
            "counted as `over_budget`); 0 = no limit"),
    Setting("PUSH_ALLOW_HTTP", _bool, False, "accept `http://` subscription endpoints (local push "
            "services in tests); production refuses to start with it"),
    Setting("PUSH_ALLOW_PRIVATE_ADDRESSES", _bool, False, "accept and contact push endpoints on "
            "loopback, private and other non-public addresses (local push services in tests); "
            "production refuses to start with it"),
    Setting("NEARBY_OFFERS_PER_HOUR", int, 10, "Nearby offers one user may post in any hour (429 past it)"),
    Setting("NEARBY_CLAIMS_PER_HOUR", int, 20, "Nearby offers one user may claim in any hour (429 past it)"),
    Setting("NEARBY_MAX_PICKUP_HOURS", int, 72, "hours ahead a Nearby offer's `pickup_until` may be"),
    Setting("LIVE_P2P_MAX_VIEWERS", int, 4, "without a media server (`ITCOOK_JANUS_URL` unset): viewers "
            "a live broadcast's host sends video to peer to peer, first come; the next get "
            "`unavailable` (steps, chat and reactions still reach them)"),
    Setting("LIVE_CHAT_PER_MINUTE", int, 30, "live chat messages one user may send in any minute "
            "(429 `rate_limited` past it); 0 = no limit"),
    # Live broadcasts' media server (docs/live.md "Media"); empty JANUS_URL = peer to peer.
    Setting("JANUS_URL", str, "", "Janus HTTP API URL the browsers connect to (e.g. "
            "`https://example.org/janus`); empty = live video peer to peer from the host"),
    Setting("JANUS_API_URL", str, "", "Janus HTTP API URL the app itself calls (rooms); empty = `JANUS_URL`"),
    Setting("JANUS_ADMIN_URL", str, "", "Janus admin API URL (tokens), e.g. `http://127.0.0.1:7088/admin`; "
            "never exposed to browsers"),
    Setting("JANUS_ADMIN_SECRET", str, "", "Janus's `admin_secret` (janus.jcfg; Janus runs with "
            "`token_auth = true`)"),
    Setting("JANUS_TIMEOUT", float, 5.0, "seconds one call to Janus may take (then 503 `media_unavailable`)"),
    Setting("PLAN_OP_RETENTION_DAYS", int, 30, "days a plan batch's op_id is remembered: a retry "
            "within them changes nothing; an hourly job forgets older ones; 0 = forever"),
    Setting("CALL_MAX_PARTICIPANTS", int, 6, "people in one group call (a full mesh: each sends "
            "its video to every other; 409 `call_full` past it, docs/calls.md)"),
    Setting("CALL_AWAY_SECONDS", float, 30.0, "a call participant with no live connection (on any "
            "process) this long leaves the call; 0 = never"),
    Setting("STUN_URLS", _csv, [], "comma-separated STUN URLs for calls (`stun:host:3478`); empty = "
            "none (host candidates: one machine or a LAN)"),
    Setting("TURN_URLS", _csv, [], "comma-separated TURN URLs for calls (`turn:host:3478?transport=udp`,"
            " `turns:host:5349`); needs `ITCOOK_TURN_SECRET`; empty = no TURN"),
    Setting("TURN_SECRET", str, "", "coturn's `static-auth-secret` (`use-auth-secret`): calls get "
            "time-limited TURN credentials made with it"),
    Setting("TURN_TTL", int, 3600, "seconds a TURN credential of `/calls/ice-servers` stays valid"),
)


def load_config(instance_path: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the Flask config dict built from defaults and ``ITCOOK_*`` variables."""
    environ = os.environ if environ is None else environ
    config = {setting.key: _value(setting, environ) for setting in SETTINGS}
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = "sqlite:///" + str(Path(instance_path) / "itcook.db")
    return config


def _value(setting: Setting, environ: Mapping[str, str]) -> Any:
    raw = environ.get(setting.env)
    if raw is None:
        return setting.default
    try:
        return setting.parse(raw)
    except ValueError as exc:
        raise RuntimeError(f"{setting.env}: {exc}") from exc


def env_setting(key: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting's value from the environment (for gunicorn.conf.py, which has no app)."""
    setting = next(s for s in SETTINGS if s.key == key)
    return _value(setting, os.environ if environ is None else environ)


def resolve_jwt_secret(config: dict[str, Any], instance_path: str) -> str:
    """Return the JWT secret: explicit, or in development one generated once and kept."""
    if config.get("JWT_SECRET"):
        return str(config["JWT_SECRET"])
    if config.get("ENV") == "production":
        raise RuntimeError(
            "ITCOOK_JWT_SECRET must be set when ITCOOK_ENV=production "
            "(a generated development secret is not safe to share between hosts)"
        )
    path = Path(instance_path) / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Written with owner-only permissions: the file is a signing key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    log.warning("generated a development JWT secret in %s; set ITCOOK_JWT_SECRET in production",
                path)
    return secret
