"""Hand-picked hostile frames with the answer written out (the properties in test_ws_fuzz.py
draw from the same space; these pin the cases a reader looks for, and each defect found).

Each case: the frames sent on a raw socket, the data frames the server must answer with, the
close code it must end with (or None: the connection stays open and still works), and the
reason /stats must count the end under.
"""

from __future__ import annotations

import struct
from collections import Counter

import pytest

from itcook.calls.events import MAX_FRAME_BYTES
from tests.support.frames import BINARY, CLOSE, CONT, PING, PONG, TEXT, RawWs, build, close_payload
from tests.support.stats import StatsProbe
from tests.support.waiting import wait_for

SUBSCRIBE = b'{"type":"Subscribe","channels":["community"]}'
CASES = {
    # control frames
    "ping_with_payload": ([build(PING, b"\x00\xffhello")], [("pong", b"\x00\xffhello")], None, None),
    "ping_125_bytes": ([build(PING, b"p" * 125)], [("pong", b"p" * 125)], None, None),
    "ping_126_bytes": ([build(PING, b"p" * 126)], [], 1002, "protocol_error"),
    "unsolicited_pong": ([build(PONG, b"unasked")], [], None, None),
    "fragmented_ping": ([build(PING, b"x", fin=False)], [], 1002, "protocol_error"),
    "ping_inside_a_fragmented_message": (
        [build(TEXT, SUBSCRIBE[:10], fin=False), build(PING, b"mid"), build(CONT, SUBSCRIBE[10:])],
        [("pong", b"mid"), ("Subscribed",)], None, None),
    # closes: a valid code is echoed and counted as a normal end, whatever the client chose
    "close_1000": ([build(CLOSE, close_payload(1000, b"bye"))], [], 1000, "normal"),
    "close_1001_going_away": ([build(CLOSE, close_payload(1001))], [], 1001, "normal"),
    "close_4000_private_use": ([build(CLOSE, close_payload(4000, "fin ✓".encode()))], [], 4000, "normal"),
    "close_without_code": ([build(CLOSE)], [], None, "normal"),
    "close_1005_reserved": ([build(CLOSE, close_payload(1005))], [], 1002, "protocol_error"),
    "close_1006_reserved": ([build(CLOSE, close_payload(1006))], [], 1002, "protocol_error"),
    "close_999": ([build(CLOSE, close_payload(999))], [], 1002, "protocol_error"),
    "close_5000": ([build(CLOSE, close_payload(5000))], [], 1002, "protocol_error"),
    "close_one_byte": ([build(CLOSE, b"\x03")], [], 1002, "protocol_error"),
    "close_reason_invalid_utf8": ([build(CLOSE, close_payload(1000, b"\xff\xfe"))], [], 1007,
                                  "invalid_payload"),
    # the frame header
    "rsv1_set": ([build(TEXT, SUBSCRIBE, rsv=4)], [], 1002, "protocol_error"),
    "rsv3_set_on_ping": ([build(PING, b"x", rsv=1)], [], 1002, "protocol_error"),
    "unmasked": ([build(TEXT, SUBSCRIBE, masked=False)], [], 1002, "protocol_error"),
    "reserved_opcode_3": ([build(0x3, b"x")], [], 1002, "protocol_error"),
    "reserved_opcode_0xb": ([build(0xB, b"x")], [], 1002, "protocol_error"),
    "length_not_minimal": ([build(TEXT, SUBSCRIBE, length_form="64")], [], 1002, "protocol_error"),
    "length_with_msb_set": ([build(TEXT, b"x", length_form="64msb")], [], 1002, "protocol_error"),
    # messages
    "continuation_without_start": ([build(CONT, b"x")], [], 1002, "protocol_error"),
    "new_message_inside_a_fragmented_one": ([build(TEXT, b"{", fin=False), build(TEXT, b"}")], [], 1002,
                                            "protocol_error"),
    "invalid_utf8": ([build(TEXT, b'{"type":"\xff"}')], [], 1007, "invalid_payload"),
    "utf8_surrogate_encoded": ([build(TEXT, b'"\xed\xa0\x80"')], [], 1007, "invalid_payload"),
    "utf8_split_across_fragments": ([build(TEXT, '["€'.encode()[:2], fin=False),
                                     build(CONT, '["€'.encode()[2:] + b'"]')], [("Error", "invalid_frame")],
                                    None, None),
    "utf8_truncated_at_the_end": ([build(TEXT, b'"\xe2\x82', fin=False), build(CONT, b"")], [], 1007,
                                  "invalid_payload"),
    "binary": ([build(BINARY, b"\x00\x01")], [("Error", "binary_not_supported")], None, None),
    "fragmented_binary": ([build(BINARY, b"\x00", fin=False), build(CONT, b"\x01")],
                          [("Error", "binary_not_supported")], None, None),
    "empty_text": ([build(TEXT, b"")], [("Error", "invalid_json")], None, None),
    # sizes (limit 4096 bytes here)
    "oversized_in_bytes_not_in_characters": ([build(TEXT, ('"' + "€" * 1400 + '"').encode())],
                                             [("Error", "message_too_big")], 1009, "message_too_big"),
    "oversized_in_fragments": ([build(TEXT, b"[" + b"1," * 1100, fin=False),
                                build(CONT, b"1," * 1100 + b"1]")],
                               [("Error", "message_too_big")], 1009, "message_too_big"),
    # Past what is read before a message's type is known: calls' Signal frames may be larger.
    "announces_a_terabyte": ([build(TEXT, b"x" * (MAX_FRAME_BYTES + 1), declared=2**40)],
                             [("Error", "message_too_big")], 1009, "message_too_big"),
    # JSON content
    "lone_surrogate_channel": ([build(TEXT, b'{"type":"Subscribe","channels":["\\ud800"]}')],
                               [("Error", "unknown_channel")], None, None),
    "nesting_32_levels": ([build(TEXT, b"[" * 32 + b"]" * 32)], [("Error", "invalid_frame")], None, None),
    "nesting_33_levels": ([build(TEXT, b"[" * 33 + b"]" * 33)], [("Error", "invalid_json")], None, None),
    "nesting_past_the_recursion_limit": ([build(TEXT, b"[" * 1500 + b"]" * 1500),
                                          build(TEXT, b'[{"":' * 550 + b"1" + b"}]" * 550)],
                                         [("Error", "invalid_json"), ("Error", "invalid_json")], None, None),
    "brackets_inside_a_string": ([build(TEXT, b'{"type":"Nope","x":"' + b"[" * 100 + b'"}')],
                                 [("Error", "unknown_type")], None, None),
    "non_ascii_digits_in_channel": ([build(TEXT, '{"type":"Subscribe","channels":["post:١"]}'.encode())],
                                    [("Error", "unknown_channel")], None, None),
    "newline_after_channel": ([build(TEXT, b'{"type":"Subscribe","channels":["post:1\\n"]}')],
                              [("Error", "unknown_channel")], None, None),
}


def _answer(frame) -> tuple:
    if frame.opcode == PONG:
        return ("pong", frame.payload)
    body = frame.json()
    return ("Error", body["data"]["code"]) if body["type"] == "Error" else (body["type"],)


@pytest.mark.realtime_config(REALTIME_MAX_MESSAGE_BYTES=4096, REALTIME_HEARTBEAT_INTERVAL=600.0)
def test_hostile_frames(live_server, api, bystander, observer) -> None:
    """Every case on one server, each on its own connection (the case is named on failure)."""
    user = api.register("attacker")
    api.call("POST", "/community/posts", user, expect=201, json={"content": "post 1"})
    for case, (frames, answers, close_code, reason) in CASES.items():
        try:
            _one_case(live_server, api, observer, user, frames, answers, close_code, reason)
        except AssertionError as exc:
            raise AssertionError(f"case {case}: {exc}") from exc
    bystander.assert_unaffected()


def _one_case(live_server, api, observer, user, frames, answers, close_code, reason) -> None:
    probe = StatsProbe(api, observer)
    ws = RawWs(live_server.port, user["access_token"])
    ws.send(*frames)
    if close_code is None and reason is None:
        ws.send(build(PING, b"still-open"))
        seen, last = ws.data_frames_until(lambda f: f.opcode == PONG and f.payload == b"still-open")
        assert last is not None and last.opcode == PONG, "the connection did not survive"
        ws.send(build(TEXT, SUBSCRIBE))  # and still works
        _, ok = ws.data_frames_until(lambda f: f.opcode == TEXT and f.json()["type"] == "Subscribed")
        assert ok is not None and ok.opcode == TEXT and ok.json()["type"] == "Subscribed"
        ws.send(build(CLOSE, close_payload(1000)))
        reason = "normal"
    else:
        seen, last = ws.data_frames_until(lambda f: False)
        assert last is not None and last.opcode == CLOSE, f"no close frame: {last}"
        got = struct.unpack("!H", last.payload[:2])[0] if len(last.payload) >= 2 else None
        assert got == close_code
    assert [_answer(f) for f in seen] == answers
    ws.close()
    expected_errors = dict(Counter(a[1] for a in answers if a[0] == "Error"))
    last_delta: dict = {}

    def counted() -> bool:
        last_delta.update(probe.delta())
        return (last_delta["disconnects_by_reason"] == {reason: 1}
                and last_delta["errors_by_code"] == expected_errors)

    try:
        wait_for(counted)
    except AssertionError:
        raise AssertionError(f"/stats counted {last_delta}, not {reason} and {expected_errors}") from None
