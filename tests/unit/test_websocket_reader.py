"""The pure frame reader under roomkey's own WebSocket (``transports/websocket_reader``): the
same messages however the bytes are cut, unmasking equal to the RFC's byte-by-byte XOR at
every length, and a message over the limit refused from its header alone."""

from __future__ import annotations

import os
import struct

import pytest

from roomkey.transports.websocket_reader import (
    BINARY,
    CLOSE,
    PING,
    TEXT,
    FrameError,
    FrameReader,
    unmask,
)


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = bytes((first, 0x80 | n))
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 125, 126, 65535, 65536, 100_003])
def test_unmask_is_the_rfcs_xor(n: int) -> None:
    mask = os.urandom(4)
    data = os.urandom(n)
    assert unmask(mask, data) == bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def test_the_same_messages_however_the_bytes_are_cut() -> None:
    wire = (
        frame(TEXT, "héllo".encode())
        + frame(BINARY, b"\x00" * 300)
        + frame(TEXT, b"par", fin=False)
        + frame(PING, b"p")
        + frame(0x0, b"ts", fin=False)
        + frame(0x0, b"!")
        + frame(TEXT, b"x" * 70_000)
        + frame(CLOSE, (1000).to_bytes(2, "big") + b"bye")
    )
    expected = [
        (TEXT, "héllo"),
        (BINARY, b"\x00" * 300),
        (PING, b"p"),
        (TEXT, "parts!"),
        (TEXT, "x" * 70_000),
        (CLOSE, (1000, "bye")),
    ]
    whole = FrameReader(100_000)
    assert whole.feed(wire) == expected and whole.buffered() == 0
    for step in (1, 2, 7, 1000):
        reader = FrameReader(100_000)
        got = []
        for i in range(0, len(wire), step):
            got += reader.feed(wire[i : i + step])
        assert got == expected, step
        assert reader.buffered() == 0


def test_a_message_over_the_limit_is_refused_from_its_header() -> None:
    reader = FrameReader(1000)
    with pytest.raises(FrameError) as refused:
        reader.feed(struct.pack("!BBH", 0x81, 0x80 | 126, 1001) + os.urandom(4))
    assert refused.value.code == 1009
    # The pieces of one message count together.
    reader = FrameReader(1000)
    assert reader.feed(frame(TEXT, b"a" * 600, fin=False)) == []
    with pytest.raises(FrameError) as refused:
        reader.feed(frame(0x0, b"b" * 401)[:4])
    assert refused.value.code == 1009
