"""Property-based fuzzing of client frames over a real WebSocket (hypothesis).

Each property keeps one server and one connection per test function, sends every example,
then a ping with a unique payload: everything the server wrote before the matching pong is
its answer to the example, compared with what the documents (tests/security/oracle.py) say
it must answer. When the server closes, the close code is compared too and the test
reconnects. At the end the counts in /stats must equal the counts the examples caused, and
a bystander client must still receive events.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from itcook.calls.events import MAX_FRAME_BYTES
from tests.support.frames import CLOSE, PING, PONG, TEXT, RawWs, build, close_payload
from tests.support.fuzz import fuzz_settings
from tests.support.oracle import Outcome, Peer, Spec, frames
from tests.support.stats import StatsProbe
from tests.support.waiting import wait_for

LIMIT_JSON = 8192
LIMIT_FRAMES = 1024
#: A text message is read up to the largest limit a frame type registered (calls' Signal).
READ_LIMIT = MAX_FRAME_BYTES
GENEROUS = {"REALTIME_RATE": 1e9, "REALTIME_BURST": 10**9, "REALTIME_MAX_VIOLATIONS": 10**9,
            "REALTIME_HEARTBEAT_INTERVAL": 600.0, "REALTIME_MAX_SUBSCRIPTIONS": 8}


class Session:
    """One fuzzing user's connection, reopened whenever the server (or a test) ends it."""

    def __init__(self, server: Any, token: str, peer: Peer) -> None:
        self.server, self.token, self.peer = server, token, peer
        self.ws: RawWs | None = None
        self.sentinel = 0
        self.errors: Counter[str] = Counter()
        self.disconnects: Counter[str] = Counter()

    def conn(self) -> RawWs:
        if self.ws is None:
            self.ws = RawWs(self.server.port, self.token)
            self.peer.reset()
        return self.ws

    def drop(self, reason: str | None) -> None:
        """Forget the connection (its TCP socket is closed); count why the server ended it."""
        if self.ws is not None:
            self.ws.close()
            self.ws = None
        if reason is not None:
            self.disconnects[reason] += 1

    def exchange(self, wire: bytes, expected: Outcome) -> None:
        """Send ``wire``, read the server's answer and compare it with ``expected``."""
        try:
            self._exchange(wire, expected)
        except BaseException:
            self.drop(None)  # in an unknown state: the next example starts on a new connection
            raise

    def _exchange(self, wire: bytes, expected: Outcome) -> None:
        ws = self.conn()
        self.sentinel += 1
        token = b"s%d" % self.sentinel
        if not expected.closed:
            wire += build(PING, token)  # a control frame is allowed even inside a message
        ws.send(wire)
        seen, last = ws.data_frames_until(lambda f: f.opcode == PONG and f.payload == token)
        actual = [_output(frame) for frame in seen]
        assert actual == expected.outputs, (actual, expected.outputs)
        if expected.closed:
            assert last is not None and last.opcode == CLOSE, f"expected a close, got {last}"
            assert last.close_code == expected.close_code, (last.close_code, expected.close_code)
            self.drop(expected.reason)
        else:
            assert last is not None and last.opcode == PONG, f"the connection ended: {last}"
            if expected.mid_message:  # leave it half-sent: the server sees the TCP connection go
                self.drop("connection_lost")
        for item in expected.outputs:
            if item[0] == "Error":
                self.errors[item[1]] += 1

    def finish(self) -> None:
        if self.ws is not None:
            ws = self.ws
            ws.send(build(CLOSE, close_payload(1000)))
            _, last = ws.data_frames_until(lambda f: False)
            assert last is not None and last.close_code == 1000
            self.drop("normal")


def _output(frame: Any) -> tuple[Any, ...]:
    if frame.opcode == PONG:
        return ("pong", frame.payload)
    assert frame.opcode == TEXT, frame
    body = frame.json()
    if body["type"] == "Error":
        return ("Error", body["data"]["code"])
    if body["type"] in ("Subscribed", "Unsubscribed"):
        return ("ack", body["type"], tuple(body["data"]["channels"]))
    raise AssertionError(f"unexpected frame {body}")


def _check_stats(probe: StatsProbe, session: Session) -> None:
    """The counts in /stats are exactly those the examples caused."""
    want = {"errors_by_code": dict(session.errors), "disconnects_by_reason": dict(session.disconnects),
            "handshake_failures_by_reason": {}}
    last: dict[str, Any] = {}

    def matches() -> bool:
        last.update(probe.delta())
        return last == want

    try:
        wait_for(matches, timeout=10, what="/stats to count every example")
    except AssertionError:
        raise AssertionError(f"/stats delta {last} != expected {want}") from None


def _setup(live_server: Any, api: Any, limit: int) -> tuple[Session, StatsProbe]:
    user = api.register("fuzzer")
    post = api.call("POST", "/community/posts", user, expect=201, json={"content": "target"}).json()
    peer = Peer(user["user"]["id"], post["id"], GENEROUS["REALTIME_MAX_SUBSCRIPTIONS"], limit,
                max_read=READ_LIMIT)
    return Session(live_server, user["access_token"], peer), StatsProbe(api, api.register("observer"))


# -- strategies: JSON-level frames -------------------------------------------------------------
ANY_CHAR = st.characters(exclude_categories=())  # lone surrogates too (sent as JSON \u escapes)
leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                   st.integers(min_value=2**63 - 3, max_value=2**64), st.text(ANY_CHAR, max_size=20))
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def channel_names(peer: Peer) -> st.SearchStrategy[Any]:
    uid, post = peer.user_id, peer.post_id
    return st.one_of(
        st.sampled_from(["personal", "community", "system", f"personal:{uid}", f"user:{uid}",
                         f"personal:{uid + 1}", f"user:{uid + 7}", f"post:{post}", f"post:{post:018d}",
                         f"post:{post + 1000}", "post:abc", "post:" + "9" * 19, "post:" + "9" * 20,
                         f"post:{2**63 - 1}", "group:1", "gruppe:1", f"post:{post}\n",
                         "post:\u0661", "", "x" * 64, "x" * 65, "\ud800", "post:\udfff", "POST:1"]),
        st.text(ANY_CHAR, max_size=70),
        json_values,
    )


def frame_objects(peer: Peer) -> st.SearchStrategy[dict[str, Any]]:
    types = st.one_of(st.sampled_from(["Heartbeat", "Subscribe", "Unsubscribe", "TypingStart",
                                       "TypingStop", "heartbeat", "Error", ""]), json_values)
    post_ids = st.one_of(st.sampled_from([peer.post_id, 0, -1, 2**63 - 1, 2**63, True, 1.0, "1"]),
                         json_values)
    return st.fixed_dictionaries({"type": types}, optional={
        "channels": st.one_of(st.lists(channel_names(peer), max_size=10), json_values),
        "post_id": post_ids})


def _dumps(value: Any, ascii_only: bool) -> str:
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate can only travel as a JSON escape
        return json.dumps(value, ensure_ascii=True)
    return text


def texts(peer: Peer) -> st.SearchStrategy[str]:
    deep = st.tuples(st.sampled_from(['[', '{"a":', '{"type":"Subscribe","channels":']),
                     st.one_of(st.integers(1, 40), st.integers(1, 2500)))
    return st.one_of(
        st.builds(_dumps, json_values, st.booleans()),
        st.builds(_dumps, frame_objects(peer), st.booleans()),
        st.text(max_size=60),  # mostly not JSON at all
        deep.map(lambda d: d[0] * d[1] + "1" + ("]" if d[0] == "[" else "}") * d[1]),
        st.integers(1, 5000).map(lambda n: '{"type":"TypingStart","post_id":' + "9" * n + "}"),
        st.integers(1, 400).map(lambda n: '{"type":"TypingStart","post_id":1e' + str(n) + "}"),
        st.sampled_from(["NaN", "-Infinity", '{"type":"TypingStart","post_id":NaN}', '{"type":null}',
                         '{"type":"Subscribe","type":"Heartbeat"}', "\ufeff{}", "{}", "[]", '""', " "]),
        # Over the limit in bytes, under it in characters: the limit counts bytes.
        st.integers(LIMIT_JSON // 3, LIMIT_JSON).map(lambda n: '{"type":"Heartbeat","p":"' + "€" * n + '"}'),
    )


@pytest.mark.realtime_config(REALTIME_MAX_MESSAGE_BYTES=LIMIT_JSON, **GENEROUS)
def test_random_json_frames_get_their_documented_answer(live_server, api, bystander) -> None:
    session, probe = _setup(live_server, api, LIMIT_JSON)
    peer = session.peer

    @fuzz_settings(150)
    @given(text=texts(peer))
    def prop(text: str) -> None:
        session.conn()
        data = text.encode()
        if len(data) > LIMIT_JSON:
            expected = Outcome([("Error", "message_too_big")], True, 1009, "message_too_big")
        else:
            expected = Outcome(peer.answers(text), False)
        session.exchange(build(TEXT, data), expected)

    prop()
    session.finish()
    _check_stats(probe, session)
    bystander.assert_unaffected()


# -- strategies: raw frame sequences ------------------------------------------------------------
POOL = ['{"type":"Heartbeat","note":"ü€😀"}', '{"type":"Subscribe","channels":["community"]}',
        '{"type":"Nope"}', "ceci n’est pas du JSON ✓", "[1,2,3]", '{"type":"TypingStart","post_id":1}']
INVALID_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xf8\x88"]
CLOSE_CODES = st.one_of(
    st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
                     0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]),
    st.integers(0, 65535).filter(lambda c: c != 1014))


@st.composite
def message(draw: Any) -> list[Spec]:
    kind = draw(st.sampled_from(["text", "text", "binary", "bigtext", "bigbinary"]))
    if kind == "text":
        payload = draw(st.sampled_from(POOL)).encode()
        if draw(st.integers(0, 4)) == 0:
            at = draw(st.integers(0, len(payload)))
            payload = payload[:at] + draw(st.sampled_from(INVALID_UTF8)) + payload[at:]
    elif kind == "binary":
        payload = draw(st.binary(max_size=64))
    elif kind == "bigtext":  # over the limit in bytes (each € is three)
        payload = ('"' + "€" * draw(st.integers(LIMIT_FRAMES // 3, LIMIT_FRAMES)) + '"').encode()
    else:
        payload = b"\x00" * draw(st.integers(LIMIT_FRAMES + 1, 2 * LIMIT_FRAMES))
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
    pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
    finished = draw(st.integers(0, 9)) > 0
    specs: list[Spec] = []
    for index, piece in enumerate(pieces):
        if index and draw(st.integers(0, 3)) == 0:
            specs.append(control_frame(draw))
        opcode = 0x0 if index else (0x1 if kind.endswith("text") else 0x2)
        specs.append(Spec(opcode, piece, fin=finished and index == len(pieces) - 1))
    return specs


def control_frame(draw: Any) -> Spec:
    return Spec(draw(st.sampled_from([PING, PING, PONG])), draw(st.binary(max_size=125)))


@st.composite
def odd_frame(draw: Any) -> list[Spec]:
    choice = draw(st.sampled_from(["control", "continuation", "reserved", "close"]))
    if choice == "control":
        return [control_frame(draw)]
    if choice == "continuation":
        return [Spec(0x0, draw(st.binary(max_size=10)), fin=draw(st.booleans()))]
    if choice == "reserved":
        return [Spec(draw(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])), b"x")]
    size = draw(st.sampled_from(["empty", "one", "code"]))
    if size == "empty":
        return [Spec(CLOSE, b"")]
    if size == "one":
        return [Spec(CLOSE, b"\x03")]
    reason = draw(st.one_of(st.text(max_size=20).map(str.encode), st.sampled_from(INVALID_UTF8)))
    return [Spec(CLOSE, close_payload(draw(CLOSE_CODES), reason[:123]))]


def mutate(draw: Any, specs: list[Spec]) -> list[Spec]:
    index = draw(st.integers(0, len(specs) - 1))
    spec = specs[index]
    how = draw(st.sampled_from(["rsv", "unmasked", "opcode", "fragmented_control", "long_control",
                                "length16", "length64", "msb64", "endless"]))
    if how == "rsv":
        spec.rsv = draw(st.integers(1, 7))
    elif how == "unmasked":
        spec.masked = False
    elif how == "opcode":
        spec.opcode = draw(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]))
    elif how == "fragmented_control" and spec.opcode >= 0x8:
        spec.fin = False
    elif how == "long_control" and spec.opcode >= 0x8:
        spec.payload = b"p" * draw(st.integers(126, 200))
    elif how == "length16":
        spec.length_form = "16"
    elif how == "length64":
        spec.length_form = "64"
    elif how == "msb64":
        spec.length_form = "64msb"
    elif how == "endless" and spec.opcode in (0x0, 0x1, 0x2):
        # Claims 2**40 bytes, sends only a little more than the limit: the server must not wait
        # for the rest (nor allocate it) before refusing.
        spec.payload, spec.declared, spec.fin = b"x" * (READ_LIMIT + 1), 2**40, False
        del specs[index + 1:]
    return specs


@st.composite
def sequences(draw: Any) -> list[Spec]:
    specs: list[Spec] = []
    for item in draw(st.lists(st.one_of(message(), message(), odd_frame()), min_size=1, max_size=4)):
        specs.extend(item)
    if draw(st.integers(0, 2)) == 0:
        specs = mutate(draw, specs)
    return specs


@pytest.mark.realtime_config(REALTIME_MAX_MESSAGE_BYTES=LIMIT_FRAMES, **GENEROUS)
def test_raw_frame_sequences_are_answered_as_rfc6455_requires(live_server, api, bystander) -> None:
    session, probe = _setup(live_server, api, LIMIT_FRAMES)
    peer = session.peer

    @fuzz_settings(150)
    @given(specs=sequences())
    def prop(specs: list[Spec]) -> None:
        session.conn()
        expected = frames(peer, specs)
        session.exchange(b"".join(spec.wire() for spec in specs), expected)

    prop()
    session.finish()
    _check_stats(probe, session)
    bystander.assert_unaffected()
