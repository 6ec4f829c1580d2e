"""The Redis backend: a pub/sub transport (one subscription per process, capped backoff with
jitter, resync after outages) and a cluster store of small keys with expiry."""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

from itcook.realtime.brokers.base import ClusterStore, Handler, Message, RoomState, Transport, decode, encode

log = logging.getLogger(__name__)


def _driver() -> Any:
    """The ``redis`` package, imported on first use: an app on ``memory://`` never needs it."""
    try:
        import redis
    except ImportError:
        raise RuntimeError("ITCOOK_BROKER_URL is redis://… but the 'redis' package is not "
                           "installed (pip install redis)") from None
    return redis


def _connect(url: str) -> Any:
    """A client for ``url``, checked now: an unreachable Redis fails the start, not a request."""
    redis = _driver()
    # Short timeouts: a publisher (a REST request) must never hang on a dead Redis.
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"ITCOOK_BROKER_URL: cannot reach Redis at {url}: {exc}") from None
    return client


class RedisTransport(Transport):
    """Messages travel on one Redis channel; every process subscribes once and fans out locally."""

    #: Seconds between the listener's PINGs, and without any answer before the link is dead.
    PING_EVERY = 2.0
    DEAD_AFTER = 6.0
    BACKOFF_FIRST, BACKOFF_CAP = 0.1, 5.0

    def __init__(self, url: str, prefix: str = "itcook") -> None:
        self._redis = _driver()
        self.channel = f"{prefix}:events"
        self.client = _connect(url)
        self.connected = False
        self._handler: Handler | None = None
        self._on_reconnect: Callable[[], None] = lambda: None
        self._listener: gevent.Greenlet | None = None

    def start(self, handler: Handler, on_reconnect: Callable[[], None]) -> None:
        self._handler, self._on_reconnect = handler, on_reconnect
        ready = gevent.event.Event()
        self._listener = gevent.spawn(self._listen, ready)
        ready.wait(5.0)  # subscribed before the first publish, or still retrying in the background

    def publish(self, message: Message) -> bool:
        # Always try, even while this process's own subscription is down: other processes may
        # be listening already, and they resynced from the log before this event was written.
        text = encode(message)
        for attempt in (1, 2):  # a stale pooled connection gets one fresh retry
            try:
                self.client.publish(self.channel, text)
                return True
            except self._redis.RedisError as exc:
                if attempt == 2:
                    log.warning("realtime: Redis publish failed (%s); a logged event reaches "
                                "clients when they resync or resume", exc)
        return False

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.kill(block=True, timeout=5)
            self._listener = None
        self.connected = False
        self.client.close()

    def _listen(self, ready: gevent.event.Event) -> None:
        """Subscribe, pump messages, and after a failure resubscribe with capped backoff."""
        delay = self.BACKOFF_FIRST
        first = True
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.connected = True
                delay = self.BACKOFF_FIRST
                if not first:
                    log.warning("realtime: Redis is back; bringing local clients up to date")
                    self._on_reconnect()
                first = False
                ready.set()
                self._pump(pubsub)
            except (self._redis.RedisError, OSError) as exc:
                if self.connected:
                    log.warning("realtime: lost the Redis subscription (%s); retrying", exc)
                self.connected = False
                first = first and not ready.is_set()
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass
            # Capped exponential backoff with full jitter: a cluster does not reconnect in step.
            gevent.sleep(random.uniform(0, delay))
            delay = min(self.BACKOFF_CAP, delay * 2)

    def _pump(self, pubsub: Any) -> None:
        last_heard = last_ping = time.monotonic()
        while True:
            message = pubsub.get_message(timeout=0.5)
            now = time.monotonic()
            if message is not None:
                last_heard = now
                if message.get("type") == "message" and self._handler is not None:
                    try:
                        self._handler(decode(message["data"]))
                    except (ValueError, KeyError, TypeError):
                        log.exception("realtime: dropped a malformed broker message")
            if now - last_ping >= self.PING_EVERY:
                pubsub.ping()
                last_ping = now
            if now - last_heard > self.DEAD_AFTER:
                raise self._redis.ConnectionError("no answer to PING from Redis")


class RedisStore(ClusterStore):
    """Locks, statistics, presence and connection counts as Redis keys that expire by themselves."""

    shared = True

    def __init__(self, url: str, prefix: str = "itcook",
                 link_up: Callable[[], bool] = lambda: True) -> None:
        self._redis = _driver()
        self.prefix = prefix
        self.client = _connect(url)
        # Whether Redis answers now, as far as the transport's subscription knows: during an
        # outage a handshake must not wait for a timeout on each admission.
        self._link_up = link_up
        self._claim: Any = None  # the registered claim script (redis-py Script)
        self._room: Any = None  # the registered room script

    def close(self) -> None:
        self.client.close()

    def try_lock(self, name: str, ttl: float) -> bool:
        try:
            token = f"{os.getpid()}:{random.random()}"
            return bool(self.client.set(f"{self.prefix}:lock:{name}", token, nx=True,
                                        px=max(1, int(ttl * 1000))))
        except self._redis.RedisError:
            return False  # better skip a round than run twice

    def share_stats(self, process_id: str, snapshot: dict[str, Any], ttl: float) -> None:
        try:
            self.client.set(f"{self.prefix}:stats:{process_id}", json.dumps(snapshot),
                            px=max(1, int(ttl * 1000)))
        except self._redis.RedisError:
            pass

    # Presence (for Web Push): one hash per user, a field per process holding an expiry time.
    # A process adds its field on a user's first connection, removes it on the last one and
    # refreshes it every stats report; a dead process's field expires, and so does the key.
    def set_presence(self, process_id: str, online: list[int], offline: list[int], ttl: float) -> None:
        if not (online or offline):
            return
        until = time.time() + ttl
        try:
            pipe = self.client.pipeline(transaction=False)
            for user_id in online:
                key = f"{self.prefix}:presence:{user_id}"
                pipe.hset(key, process_id, until)
                pipe.pexpire(key, max(1, int(ttl * 1000)))
            for user_id in offline:
                pipe.hdel(f"{self.prefix}:presence:{user_id}", process_id)
            pipe.execute()
        except self._redis.RedisError:
            pass  # the next report writes everything again

    # Connections per user (the cap of every process together): one hash per user, a field per
    # process holding "<count>:<expiry ms>". An admission adds up the live fields of the other
    # processes and sets its own in one script, so two processes cannot both take the last slot.
    _CLAIM = """
    local now, me, held, cap = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
    local total = held
    local fields = redis.call('HGETALL', KEYS[1])
    for i = 1, #fields, 2 do
      if fields[i] ~= me then
        local count, expiry = string.match(fields[i + 1], '^(%d+):(%d+)$')
        if count and tonumber(expiry) > now then
          total = total + tonumber(count)
        else
          redis.call('HDEL', KEYS[1], fields[i])
        end
      end
    end
    if total >= cap then return 0 end
    redis.call('HSET', KEYS[1], me, (held + 1) .. ':' .. ARGV[5])
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    return 1
    """

    def _connections_key(self, user_id: int) -> str:
        return f"{self.prefix}:connections:{user_id}"

    def claim_connection(self, process_id: str, user_id: int, held_here: int, cap: int,
                         ttl: float) -> bool:
        if not self._link_up():
            return True  # an outage: a handshake must not wait for Redis's timeout; own cap holds
        now_ms = int(time.time() * 1000)
        ttl_ms = max(1, int(ttl * 1000))
        try:
            if self._claim is None:
                self._claim = self.client.register_script(self._CLAIM)
            return bool(self._claim(keys=[self._connections_key(user_id)],
                                    args=[now_ms, process_id, held_here, cap, now_ms + ttl_ms, ttl_ms]))
        except self._redis.RedisError:
            return True  # Redis is down: this process's own cap still holds

    def report_connections(self, process_id: str, counts: dict[int, int], ttl: float) -> None:
        if not counts:
            return
        ttl_ms = max(1, int(ttl * 1000))
        until = int(time.time() * 1000) + ttl_ms
        try:
            pipe = self.client.pipeline(transaction=False)
            for user_id, count in counts.items():
                key = self._connections_key(user_id)
                if count > 0:
                    pipe.hset(key, process_id, f"{count}:{until}")
                    pipe.pexpire(key, ttl_ms)
                else:
                    pipe.hdel(key, process_id)
            pipe.execute()
        except self._redis.RedisError:
            pass  # the next report writes everything again

    # Rooms (who looks at what, across processes): one hash per room, a field per member holding
    # "<expiry ms>|<value>", and a sequence number bumped in the same script, so that the order
    # of the answers is the order of the updates.
    _ROOM = """
    local now, member, value, ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3], tonumber(ARGV[4])
    if value == '' then
      redis.call('HDEL', KEYS[1], member)
    else
      redis.call('HSET', KEYS[1], member, (now + ttl) .. '|' .. value)
    end
    local live = {}
    local fields = redis.call('HGETALL', KEYS[1])
    for i = 1, #fields, 2 do
      local expiry = tonumber(string.match(fields[i + 1], '^(%d+)|'))
      if expiry and expiry > now then
        table.insert(live, fields[i])
        table.insert(live, fields[i + 1])
      else
        redis.call('HDEL', KEYS[1], fields[i])
      end
    end
    if #live > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
    local seq = redis.call('INCR', KEYS[2])
    redis.call('PEXPIRE', KEYS[2], 86400000)
    return {seq, live}
    """

    def room_update(self, room: str, member: str, value: str | None, ttl: float) -> RoomState:
        if self._room is None:
            self._room = self.client.register_script(self._ROOM)
        key = f"{self.prefix}:room:{room}"
        seq, flat = self._room(keys=[key, f"{key}:seq"],
                               args=[int(time.time() * 1000), member, value or "", max(1, int(ttl * 1000))])
        pairs = [item.decode() for item in flat]
        return int(seq), {pairs[i]: pairs[i + 1].split("|", 1)[1] for i in range(0, len(pairs), 2)}

    # Tallies: one hash per key; adds are HINCRBYs, a take is HGETALL + DEL in one MULTI, so a
    # count added by any process lands in exactly one take.
    def add_counts(self, key: str, counts: dict[str, int], ttl: float) -> None:
        name = f"{self.prefix}:tally:{key}"
        pipe = self.client.pipeline(transaction=True)
        for field, n in counts.items():
            pipe.hincrby(name, field, n)
        pipe.pexpire(name, max(1, int(ttl * 1000)))
        pipe.execute()

    def take_counts(self, key: str) -> dict[str, int]:
        name = f"{self.prefix}:tally:{key}"
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(name)
        pipe.delete(name)
        values, _ = pipe.execute()
        return {field.decode(): int(n) for field, n in values.items()}

    def user_present(self, user_id: int) -> bool:
        try:
            values = self.client.hvals(f"{self.prefix}:presence:{user_id}")
        except self._redis.RedisError:
            return False  # unknown: better a push too many than a notification lost
        now = time.time()
        return any(float(value) > now for value in values)

    def gather_stats(self) -> list[dict[str, Any]]:
        try:
            keys = list(self.client.scan_iter(match=f"{self.prefix}:stats:*", count=100))
            values = self.client.mget(keys) if keys else []
        except self._redis.RedisError:
            return []
        return [json.loads(v) for v in values if v]
