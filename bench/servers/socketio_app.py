"""The Flask-SocketIO baseline: gevent, gevent-websocket, one room that every client joins.

Run from the repository root: ``python -m bench.servers.socketio_app PORT``. This is the
deployment Flask-SocketIO documents for gevent (``socketio.run`` picks gevent-websocket's
handler when it is installed). The Engine.IO ping interval is raised as IT Cook's heartbeat is
in the benchmark, so neither server spends a measurement window on keep-alives.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import itertools  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

from flask import Flask, Response, jsonify, request  # noqa: E402
from flask_socketio import SocketIO, join_room  # noqa: E402

from bench.servers.frames import PAD, frame  # noqa: E402

ROOM = "bench"
app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent", ping_interval=3600, ping_timeout=3600,
                    logger=False, engineio_logger=False)
_seq = itertools.count(1)


@socketio.on("connect")
def on_connect(auth: object = None) -> None:
    """Every client joins the one room the benchmark emits to."""
    join_room(ROOM)


@app.post("/bench/publish")
def publish() -> Response:
    """Emit ``count`` events to the room, back to back (the same JSON object as IT Cook's)."""
    count = int(request.args.get("count", "1"))
    last = 0
    for _ in range(count):
        last = next(_seq)
        socketio.emit("SystemNotification", frame(last, last, PAD), to=ROOM)
    return jsonify(last_seq=last)


@app.get("/bench/ready")
def ready() -> Response:
    """Members of the room."""
    members = socketio.server.manager.rooms.get("/", {}).get(ROOM, {})
    return jsonify(subscribers=len(members))


if __name__ == "__main__":
    logging.getLogger("geventwebsocket").setLevel(logging.ERROR)
    socketio.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_output=False)
