"""IT Cook as ``python wsgi.py`` serves it, plus the two bench-only routes (never part of itcook/).

Run from the repository root: ``python -m bench.servers.itcook`` with the usual ``ITCOOK_*``
environment. Importing ``wsgi`` patches gevent and builds the app exactly as production does;
the routes below are added to that app before it serves anything.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # before anything else, as wsgi.py does (importing it patches again: harmless)

import gc  # noqa: E402
import itertools  # noqa: E402
import time  # noqa: E402

from flask import Response, jsonify, request  # noqa: E402

import wsgi  # noqa: E402
from bench.servers.frames import data  # noqa: E402
from itcook.realtime.events import Event  # noqa: E402

app = wsgi.app
state = app.extensions["realtime"]
_seq = itertools.count(1)
# Time spent in the garbage collector, by generation: a server holding 10k connections tracks
# about a million objects, and a full collection walks them all.
_gc = {"seconds": [0.0, 0.0, 0.0], "collections": [0, 0, 0], "_start": 0.0}


def _time_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc["_start"] = time.perf_counter()
    else:
        _gc["seconds"][info["generation"]] += time.perf_counter() - _gc["_start"]
        _gc["collections"][info["generation"]] += 1


gc.callbacks.append(_time_gc)


def publish() -> Response:
    """Publish ``count`` SystemNotification events on ``channel`` through the plugin's real path."""
    count = int(request.args.get("count", "1"))
    channel = request.args.get("channel", "system")
    last = 0
    for _ in range(count):
        last = next(_seq)
        state.publish_event(Event(type="SystemNotification", channel=channel, data=data(last)))
    return jsonify(last_seq=last)


def ready() -> Response:
    """How many connections the next event on ``channel`` reaches, and how many are connected."""
    channel = request.args.get("channel", "system")
    hub = state.hub
    return jsonify(subscribers=len(hub.channels.get(channel, ())), connections=len(hub.connections),
                   replaying=len(hub.replaying.get(channel, ())),
                   gc_seconds=[round(x, 3) for x in _gc["seconds"]], gc_collections=_gc["collections"])


def dispatch_batch() -> Response:
    """Set how many queued events go out in one write (1: one write per event, as the raw loop)."""
    previous, state.dispatch_batch = state.dispatch_batch, max(1, int(request.args.get("size", "1")))
    return jsonify(dispatch_batch=state.dispatch_batch, previous=previous)


app.add_url_rule("/bench/publish", "bench_publish", publish, methods=["POST"])
app.add_url_rule("/bench/dispatch_batch", "bench_dispatch_batch", dispatch_batch, methods=["POST"])
app.add_url_rule("/bench/ready", "bench_ready", ready)

if __name__ == "__main__":
    wsgi.serve()
