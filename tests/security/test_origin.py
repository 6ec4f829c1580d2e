"""Cross-site WebSocket hijacking: a page of another origin cannot open a stream, on WS or SSE.

An origin is scheme, host and port (RFC 6454): a page on another port of the same host, or
on the same host and port over the other scheme, is another site. ``Origin: null`` (sandboxed
frames, file: pages, some redirects) is no site at all. Each refusal is 403
``origin_not_allowed`` before any upgrade, counted in /stats, and spends no ticket.
"""

from __future__ import annotations

import pytest

from tests.support.sse import SseStream
from tests.support.stats import StatsProbe
from tests.support.waiting import wait_for
from tests.support.ws import HandshakeRefused, ws_connect

FOREIGN = [
    "https://evil.example",
    "null",
    "http://127.0.0.1:1",  # same host, another port
    "https://127.0.0.1:{port}",  # same host and port, another scheme
    "http://127.0.0.1:{port}.evil.example",
    "http://localhost:{port}",  # another host name of the same machine: another origin
    "http://127.0.0.1:{port}/path",  # not an origin at all (an origin has no path)
    "http://user@127.0.0.1:{port}",
    "",
]


def _open(transport: str, server, headers: dict[str, str], query: str = "") -> tuple[int, str | None, object]:
    if transport == "sse":
        stream = SseStream(server, query=query, headers=headers)
        code = stream.response.json()["error"]["code"] if stream.status != 200 else None
        return stream.status, code, stream
    try:
        client = ws_connect(server, headers=headers, query=query)
    except HandshakeRefused as exc:
        return exc.status, exc.code, None
    return 101, None, client


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_foreign_origins_are_refused(live_server, api, bystander, observer, transport) -> None:
    anna = api.register("anna")
    for origin in FOREIGN:
        probe = StatsProbe(api, observer)
        headers = {"Origin": origin.format(port=live_server.port)}
        # With a bearer token, and with a ticket: the credentials a hijacking page could hold.
        status, code, _ = _open(transport, live_server, {**headers, **anna["headers"]})
        assert (status, code) == (403, "origin_not_allowed"), origin
        ticket = api.call("POST", "/realtime/ticket", anna, expect=201).json()["ticket"]
        status, code, _ = _open(transport, live_server, headers, query=f"?ticket={ticket}")
        assert (status, code) == (403, "origin_not_allowed"), origin
        assert probe.delta()["handshake_failures_by_reason"] == {"origin_not_allowed": 2}, origin
        # The origin is checked first: the refused ticket still serves the page it was made for.
        status, _, stream = _open(transport, live_server, {}, query=f"?ticket={ticket}")
        assert status in (101, 200), origin
        stream.close()  # type: ignore[union-attr]
    wait_for(lambda: len(live_server.state.hub.connections) == 1, what="only the bystander to remain")
    bystander.assert_unaffected()


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_own_origin_is_accepted(live_server, api, transport) -> None:
    anna = api.register("anna")
    status, _, stream = _open(transport, live_server,
                              {"Origin": f"http://127.0.0.1:{live_server.port}", **anna["headers"]})
    assert status in (101, 200)
    stream.close()  # type: ignore[union-attr]


#: What nginx sends with ``proxy_set_header Host $host`` (no port) behind TLS on 8443.
BEHIND_PROXY = {"Host": "cook.example", "X-Forwarded-Host": "cook.example:8443",
                "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


@pytest.mark.realtime_config(PROXY_COUNT=1)
@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_behind_a_trusted_proxy_the_public_origin_is_the_servers_own(live_server, api, transport) -> None:
    """Scheme, host and port come from the proxy's X-Forwarded-Proto and -Host: the browser's
    https origin with its port is accepted, the origin the backend socket would suggest is not."""
    anna = api.register("anna")
    status, _, stream = _open(transport, live_server,
                              {"Origin": "https://cook.example:8443", **BEHIND_PROXY, **anna["headers"]})
    assert status in (101, 200)
    stream.close()  # type: ignore[union-attr]
    for origin in ("http://cook.example:8443", "http://cook.example", "https://cook.example",
                   f"http://127.0.0.1:{live_server.port}"):
        status, code, _ = _open(transport, live_server, {"Origin": origin, **BEHIND_PROXY, **anna["headers"]})
        assert (status, code) == (403, "origin_not_allowed"), origin


@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_without_a_trusted_proxy_forwarded_headers_are_ignored(live_server, api, transport) -> None:
    """ITCOOK_PROXY_COUNT=0 (the default): anyone can send X-Forwarded-*, so they change nothing."""
    anna = api.register("anna")
    forged = {"X-Forwarded-Host": "cook.example:8443", "X-Forwarded-Proto": "https"}
    status, code, _ = _open(transport, live_server,
                            {"Origin": "https://cook.example:8443", **forged, **anna["headers"]})
    assert (status, code) == (403, "origin_not_allowed")
    status, _, stream = _open(transport, live_server,
                              {"Origin": f"http://127.0.0.1:{live_server.port}", **forged, **anna["headers"]})
    assert status in (101, 200)
    stream.close()  # type: ignore[union-attr]


@pytest.mark.realtime_config(REALTIME_ALLOWED_ORIGINS=["https://app.example"])
def test_allowed_origin_gets_cors_headers_for_itself_only(live_server, api) -> None:
    anna = api.register("anna")
    stream = SseStream(live_server, headers={"Origin": "https://app.example", **anna["headers"]})
    assert stream.status == 200
    assert stream.response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    stream.close()
    refused = SseStream(live_server, headers={"Origin": "https://app.example.evil", **anna["headers"]})
    assert refused.status == 403 and "Access-Control-Allow-Origin" not in refused.response.headers
