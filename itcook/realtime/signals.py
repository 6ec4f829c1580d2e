"""The plugin's own signals, in its own namespace (the host's domain signals live elsewhere).

Each is sent with the real app object as sender: connect with ``sender=app``. docs/plugin.md
("Signals") describes them for a host.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent by the host's HTTP layer (or the plugin, for ``websocket_required``) when it refuses a
#: request before any view ran: reason ("malformed_request", "header_timeout",
#: "websocket_required"), path (None when no request line was read). The plugin counts those
#: aimed at it with its handshake failures.
request_refused = _signals.signal("request-refused")

#: Sent by the plugin as a durable event is written, in the transaction of the change that
#: publishes it: event (the ``Event``, with its id). What a receiver writes in the host's
#: session joins that transaction; an exception it raises fails the publish (and rolls back).
event_logged = _signals.signal("event-logged")

#: Sent by the plugin once a durable event went to the broker after its commit, or was relayed
#: after its process died first: event. A receiver's exception is logged; the event is out.
event_published = _signals.signal("event-published")
