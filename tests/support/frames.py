"""WebSocket by hand: the upgrade request, frames (RFC 6455 §5.2), a raw client reading frames.

The wsproto client (tests/support/ws.py) refuses to send what the RFC forbids; the hostile tests
need exactly that: reserved bits, unmasked frames, reserved opcodes, non-minimal lengths,
invalid UTF-8, a length that claims more than is ever sent.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def raw_handshake(port: int, path: str = "/api/v1/realtime/ws", headers: dict[str, str] | None = None,
                  rcvbuf: int | None = None) -> tuple[socket.socket, str]:
    """Open a TCP connection, send a WebSocket upgrade request, return the socket and the head."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
             "Sec-WebSocket-Version: 13"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return sock, head.decode("latin-1")


def build(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, masked: bool = True,
          length_form: str = "minimal", declared: int | None = None) -> bytes:
    """One client frame. ``length_form``: ``minimal``, ``16`` or ``64`` (non-minimal when the
    payload is short), ``64msb`` (a 64-bit length with its most significant bit set).
    ``declared`` announces a length other than the payload's (a frame that never ends)."""
    length = len(payload) if declared is None else declared
    head = bytes([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)])
    mask_bit = 0x80 if masked else 0
    if length_form == "64msb":
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length | 1 << 63)
    elif length_form == "64" or (length_form == "minimal" and length > 0xFFFF):
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    elif length_form == "16" or (length_form == "minimal" and length > 125):
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | length])
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


@dataclass
class ServerFrame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    def json(self) -> dict[str, Any]:
        return json.loads(self.payload)  # type: ignore[no-any-return]


class RawWs:
    """A WebSocket opened with a raw handshake; frames are sent as given and read one by one."""

    def __init__(self, port: int, token: str, query: str = "", rcvbuf: int | None = None) -> None:
        sock, head = raw_handshake(port, "/api/v1/realtime/ws" + query,
                                   headers={"Authorization": f"Bearer {token}"}, rcvbuf=rcvbuf)
        assert head.startswith("HTTP/1.1 101"), head
        self._attach(sock)

    @classmethod
    def over(cls, sock: socket.socket) -> RawWs:
        """The reading side of a socket already past its handshake (a socket pair in hub tests)."""
        ws = cls.__new__(cls)
        ws._attach(sock)
        return ws

    def _attach(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def send(self, *frames: bytes) -> None:
        self.sock.sendall(b"".join(frames))

    def _fill(self, need: int, deadline: float) -> bool:
        while len(self.buf) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no frame from the server in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.eof = True
                return False
            self.buf += chunk
        return True

    def next_frame(self, timeout: float = 5.0) -> ServerFrame | None:
        """The next frame from the server, or None once it closed the TCP connection."""
        deadline = time.monotonic() + timeout
        if not self._fill(2, deadline):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        assert b1 & 0x80 == 0, "a server frame must not be masked"
        assert b0 & 0x80, "the server sends whole frames"
        length, offset = b1 & 0x7F, 2
        if length == 126:
            if not self._fill(4, deadline):
                return None
            length, offset = struct.unpack("!H", self.buf[2:4])[0], 4
        elif length == 127:
            if not self._fill(10, deadline):
                return None
            length, offset = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not self._fill(offset + length, deadline):
            return None
        frame = ServerFrame(b0 & 0x0F, bytes(self.buf[offset:offset + length]))
        del self.buf[:offset + length]
        return frame

    def data_frames_until(self, predicate: Any, timeout: float = 5.0, limit: int = 1000
                          ) -> tuple[list[ServerFrame], ServerFrame | None]:
        """Frames (heartbeats dropped) up to the first one ``predicate`` accepts (returned apart),
        or up to the server's close frame or end of stream (then the second item is that frame
        or None)."""
        seen: list[ServerFrame] = []
        for _ in range(limit):
            frame = self.next_frame(timeout)
            if frame is None or frame.opcode == CLOSE or predicate(frame):
                return seen, frame
            if frame.opcode == TEXT and frame.json().get("type") == "Heartbeat":
                continue
            seen.append(frame)
        raise AssertionError(f"no matching frame within {limit} frames")

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def socket_closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """Read and drop until the peer closes (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return False
