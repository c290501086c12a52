"""The WebSocket frames both transports write themselves, and the one gate for writing them
straight to a socket's transport (``performance.direct_writes``).

A delivery goes to every local subscriber of a channel: thousands of sockets, one message.
Each transport encodes it once (its own wire form, cached on the message), frames those bytes
once (``message_frame``: an RFC 6455 text frame, exactly what aiohttp writes for
``send_str``), and writes the frame straight to each recipient's asyncio transport instead of
handing the text to the socket's writer task, whenever that cannot change what the client
sees. That is decided in two halves:

- the socket's writer holds nothing (nothing queued, nothing between the queue and the
  wire), so the frame cannot overtake one: each transport knows its own writer (the Pusher
  connection's writer task; the Engine.IO socket's queue, read in
  ``_patches/engineio_websocket.idle_websocket``);
- the wire takes the frame as is (``can_write_now``): the transport is open, the WebSocket
  does not compress (a compressed socket's frames carry deflated payloads, and aiohttp's
  compressor keeps state across them), and the transport holds at most the outbound limit (a
  client that stops reading is left to the queued path, whose byte count finds it slow).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import TypeGuard

from roomkey.core.protocol import Outbound


def text_frame(text: str) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame (RFC 6455 section 5.2), exactly
    what aiohttp writes for ``send_str(text)`` on a socket without compression."""
    return _frame(0x81, text.encode())


def binary_frame(data: bytes) -> bytes:
    """One unmasked, final binary frame (what ``send_bytes(data)`` writes)."""
    return _frame(0x82, data)


def control_frame(opcode: int, payload: bytes) -> bytes:
    """A ping (0x9) or pong (0xA) frame; ``payload`` at most 125 bytes."""
    return _frame(0x80 | opcode, payload[:125])


def close_frame(code: int, reason: bytes) -> bytes:
    """A close frame with ``code`` and ``reason`` (cut to the 123 bytes a control frame
    leaves for it)."""
    return _frame(0x88, code.to_bytes(2, "big") + reason[:123])


def _frame(first: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((first, n))
    elif n < 65536:
        head = struct.pack("!BBH", first, 126, n)
    else:
        head = struct.pack("!BBQ", first, 127, n)
    return head + payload


def message_frame(message: Outbound, key: str, text_of: Callable[[Outbound], str]) -> bytes:
    """The text frame of ``text_of(message)``, built once per message: cached in
    ``message.encoded`` under ``key`` (one key per transport), shared by every recipient."""
    frame: bytes | None = message.encoded.get(key)
    if frame is None:
        frame = message.encoded[key] = text_frame(text_of(message))
    return frame


def can_write_now(
    transport: asyncio.Transport | None, *, compressed: bool, max_buffered: int
) -> TypeGuard[asyncio.Transport]:
    """Whether a frame may go straight to ``transport`` (see the module's docstring); ask only
    once the socket's writer holds nothing. ``max_buffered``: bytes the transport may already
    hold (``limits.max_outbound_buffer_bytes``). False: queue it for the writer instead."""
    return (
        transport is not None
        and not compressed
        and not transport.is_closing()
        and transport.get_write_buffer_size() <= max_buffered
    )
