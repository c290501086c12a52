"""A request body looked at where aiohttp holds it (``performance.peek_body``).

Why: taking data out of aiohttp's ``StreamReader`` (``read_nowait``, ``read``, ``post``) ends
in ``resume_reading()``, which feeds the HTTP parser an empty chunk and touches the transport,
even when nothing was paused: about a tenth of a small authorize call's cost
(docs/benchmarks.md). ``peek_body`` only looks; aiohttp discards the reader after the handler
as it does for any handler that does not read its body.

Private parts of aiohttp's ``StreamReader`` read here: ``_buffer`` (a deque of ``bytes``
chunks), ``_buffer_offset`` (how much of the first chunk was read) and ``_exception``.
"""

from __future__ import annotations

from collections import deque


def peek_body(content: object, length: int) -> bytes | None:
    """The whole body of ``length`` bytes when aiohttp's stream reader ``content`` holds
    exactly that, in one piece, untouched; else None (the caller then reads the body through
    the public API, as with ``peek_body = false``).

    Every private attribute is checked for the shape expected on each call, so an aiohttp
    that holds bodies differently only costs the peek (``shape_problems`` says so once, at
    start-up)."""
    buffer = getattr(content, "_buffer", None)
    if (
        type(buffer) is not deque
        or len(buffer) != 1
        or getattr(content, "_buffer_offset", None) != 0
        or getattr(content, "_exception", True) is not None
    ):
        return None
    chunk = buffer[0]
    return chunk if type(chunk) is bytes and len(chunk) == length else None


class _Protocol:
    """What a stream reader built only to be looked at may call on its protocol."""

    def pause_reading(self) -> None:
        pass

    def resume_reading(self, resume_parser: bool = True) -> None:
        pass


def shape_problems(reader_class: type) -> list[str]:
    """A reader of ``reader_class`` (aiohttp's ``StreamReader``), fed one chunk, holds it
    where ``peek_body`` looks, and ``peek_body`` returns it without taking it."""
    name = reader_class.__name__
    try:
        # The loop is only stored, never used by feeding (no loop runs at start-up).
        reader = reader_class(_Protocol(), 2**16, loop=object())
        reader.feed_data(b"probe")
    except Exception as exc:  # any failure is a shape that does not hold
        return [f"{name} cannot be built and fed as expected ({type(exc).__name__})"]
    problems = []
    if type(getattr(reader, "_buffer", None)) is not deque:
        problems.append(f"{name}._buffer is not a deque")
    if getattr(reader, "_buffer_offset", None) != 0:
        problems.append(f"{name}._buffer_offset is not 0 on a fresh reader")
    if getattr(reader, "_exception", True) is not None:
        problems.append(f"{name}._exception is not None on a fresh reader")
    if not problems and (peek_body(reader, 5) != b"probe" or reader.read_nowait() != b"probe"):
        problems.append(f"{name} does not hold a fed chunk as one bytes object in _buffer")
    return problems
