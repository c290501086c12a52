"""Reading a client's WebSocket frames (RFC 6455, no extension): bytes in, messages out.

Pure: no socket, no event loop. ``FrameReader.feed(data)`` returns every message the bytes
complete, as ``(opcode, payload)`` pairs: ``TEXT`` with a ``str``, ``BINARY`` with ``bytes``,
``PING``/``PONG`` with ``bytes``, ``CLOSE`` with ``(code, reason)``. Fragments are joined;
control frames may arrive between them, as the RFC allows. Anything the RFC forbids a client
raises ``FrameError`` carrying the close code to answer with, before anything more is read:

- 1002 (protocol error): an unmasked frame (a client must mask), a reserved bit set (no
  extension is negotiated), an unknown opcode, a fragmented or oversized (over 125 bytes)
  control frame, a continuation with nothing to continue or a new message in the middle of
  one, a 64-bit length with its top bit set, a close payload of one byte or a close code a
  client may not send;
- 1007 (invalid data): a text message or a close reason that is not UTF-8;
- 1009 (too big): a message whose declared length, with the fragments before it, exceeds
  ``max_message_bytes``. Refused from the frame's header, before its payload is buffered.

The buffer never holds more than one frame's header and payload (bounded by the limit) plus
what arrived after it in the same read.
"""

from __future__ import annotations

from typing import Any

CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

_OPCODES = frozenset((CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG))

# Close codes with no status (1005) and an abnormal end (1006) are never sent on the wire.
NO_STATUS = 1005
PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
TOO_BIG = 1009


class FrameError(Exception):
    """A frame the RFC forbids: ``code`` is the close code to answer with."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def unmask(mask: bytes, payload: bytes | bytearray) -> bytes:
    """``payload`` XOR the repeated 4-byte ``mask``, in one big-integer operation (linear in
    the length, no Python loop per byte)."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * ((n >> 2) + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def valid_close_code(code: int) -> bool:
    """Whether a client may send ``code`` in a close frame (RFC 6455 section 7.4)."""
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1011 or 3000 <= code <= 4999


class FrameReader:
    """The frames of one connection, read incrementally (see the module's docstring)."""

    __slots__ = ("_buffer", "_fragments", "_fragments_size", "_message_opcode", "max_message_bytes")

    def __init__(self, max_message_bytes: int) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()
        self._fragments: list[bytes] | None = None  # a message in pieces, while one is open
        self._fragments_size = 0
        self._message_opcode = 0

    def buffered(self) -> int:
        """Bytes received and not yet part of a whole message."""
        return len(self._buffer) + self._fragments_size

    def feed(self, data: bytes) -> list[tuple[int, Any]]:
        buffer = self._buffer
        if buffer:
            buffer += data
            view: bytes | bytearray = buffer
        else:
            view = data
        out: list[tuple[int, Any]] = []
        pos = 0
        end = len(view)
        while end - pos >= 2:
            first = view[pos]
            second = view[pos + 1]
            if first & 0x70:
                raise FrameError(PROTOCOL_ERROR, "reserved bits set without an extension")
            opcode = first & 0x0F
            if opcode not in _OPCODES:
                raise FrameError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if not second & 0x80:
                raise FrameError(PROTOCOL_ERROR, "client frames must be masked")
            fin = bool(first & 0x80)
            length = second & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(view[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(view[pos + 2 : pos + 10], "big")
                if length >> 63:
                    raise FrameError(PROTOCOL_ERROR, "frame length has its top bit set")
                head = 10
            if opcode >= CLOSE:
                if not fin or length > 125:
                    raise FrameError(PROTOCOL_ERROR, "control frames are whole and short")
            elif self._fragments_size + length > self.max_message_bytes:
                raise FrameError(TOO_BIG, f"message larger than {self.max_message_bytes} bytes")
            stop = pos + head + 4 + length
            if stop > end:
                break
            mask = bytes(view[pos + head : pos + head + 4])
            payload = unmask(mask, view[pos + head + 4 : stop])
            pos = stop
            if opcode >= CLOSE:
                out.append(_control(opcode, payload))
                continue
            message = self._data(opcode, fin, payload)
            if message is not None:
                out.append(message)
        if buffer:
            del buffer[:pos]
        elif pos < end:
            buffer += view[pos:]
        return out

    def _data(self, opcode: int, fin: bool, payload: bytes) -> tuple[int, Any] | None:
        fragments = self._fragments
        if opcode == CONTINUATION:
            if fragments is None:
                raise FrameError(PROTOCOL_ERROR, "continuation frame with no message to continue")
            fragments.append(payload)
            self._fragments_size += len(payload)
            if not fin:
                return None
            payload = b"".join(fragments)
            opcode = self._message_opcode
            self._fragments = None
            self._fragments_size = 0
        elif fragments is not None:
            raise FrameError(PROTOCOL_ERROR, "new message before the last one ended")
        elif not fin:
            self._fragments = [payload]
            self._fragments_size = len(payload)
            self._message_opcode = opcode
            return None
        if opcode == TEXT:
            try:
                return TEXT, payload.decode()
            except UnicodeDecodeError:
                raise FrameError(INVALID_DATA, "text message is not UTF-8") from None
        return BINARY, payload


def _control(opcode: int, payload: bytes) -> tuple[int, Any]:
    if opcode != CLOSE:
        return opcode, payload
    if not payload:
        return CLOSE, (NO_STATUS, "")
    if len(payload) == 1:
        raise FrameError(PROTOCOL_ERROR, "close payload of one byte")
    code = int.from_bytes(payload[:2], "big")
    if not valid_close_code(code):
        raise FrameError(PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameError(INVALID_DATA, "close reason is not UTF-8") from None
    return CLOSE, (code, reason)
