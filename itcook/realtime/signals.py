"""The plugin's own signals, in its own namespace (the host's domain signals live elsewhere).

Each is sent with the real app object as sender: connect with ``sender=app``.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent by the host's HTTP layer when it refuses a request before any view ran: reason
#: ("malformed_request", "header_timeout", "websocket_required"), path (None when no request
#: line was read). The plugin counts those aimed at it with its handshake failures.
request_refused = _signals.signal("request-refused")
