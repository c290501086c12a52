"""``performance.peek_body``: a small body that has all arrived is looked at where aiohttp
holds it, never taken out (``_patches/aiohttp_body.py``). These tests pin that the aiohttp in
use still holds a body the way ``peek_body`` expects (if it stops, the peek quietly falls back
and the first test fails, saying so), that a body in pieces falls back to reading, and that
roomkey answers the same either way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web

from roomkey._patches.aiohttp_body import peek_body
from roomkey.config import PerformanceSettings
from roomkey.core.signing import sign_channel
from roomkey.http.context import buffered_body
from tests.authorize_client import post_auth
from tests.conftest import APP_ID, APP_KEY, APP_SECRET, StartServer, make_settings, make_token
from tests.rest_helpers import signed_post

BODY = b"socket_id=1234.5678&channel_name=private-user-7"
Handler = Callable[[web.Request], Awaitable[dict[str, Any]]]


@pytest.fixture
async def probe() -> AsyncIterator[Callable[[Handler, list[bytes]], Awaitable[dict[str, Any]]]]:
    """``await probe(look, pieces)``: a real aiohttp server on loopback whose handler calls
    ``look(request)``; ``pieces`` are written raw (headers with the first), 50 ms apart.
    Returns what ``look`` saw."""
    runners: list[web.AppRunner] = []

    async def run(look: Handler, pieces: list[bytes]) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def handler(request: web.Request) -> web.Response:
            seen.update(await look(request))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        head = (
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {sum(map(len, pieces))}\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i, piece in enumerate(pieces):
                writer.write(head + piece if i == 0 else piece)
                await writer.drain()
                if i < len(pieces) - 1:
                    await asyncio.sleep(0.05)
            assert b" 200 " in await asyncio.wait_for(reader.readline(), 5)
        finally:
            writer.close()
        return seen

    yield run
    for runner in runners:
        await runner.cleanup()


async def test_a_whole_body_is_peeked_and_left_where_aiohttp_holds_it(probe: Any) -> None:
    async def look(request: web.Request) -> dict[str, Any]:
        peeked = buffered_body(request, 1024, peek=True)
        # Still in aiohttp's reader afterwards: it was looked at, not taken.
        return {"peeked": peeked, "left": request.content.read_nowait()}

    seen = await probe(look, [BODY])
    assert seen == {"peeked": BODY, "left": BODY}, (
        "aiohttp no longer holds a whole small body as one bytes chunk in "
        "StreamReader._buffer: peek_body falls back to reading (correct, but slower); "
        "see roomkey._patches.aiohttp_body.peek_body"
    )


async def test_without_peek_the_body_is_taken_out(probe: Any) -> None:
    async def look(request: web.Request) -> dict[str, Any]:
        taken = buffered_body(request, 1024, peek=False)
        return {"taken": taken, "left": request.content.read_nowait()}

    assert await probe(look, [BODY]) == {"taken": BODY, "left": b""}


async def test_a_body_held_in_two_pieces_is_not_peeked_but_read_whole(probe: Any) -> None:
    async def look(request: web.Request) -> dict[str, Any]:
        for _ in range(300):  # until both pieces arrived, held as two chunks (at most 3 s)
            if request.content.is_eof():
                break
            await asyncio.sleep(0.01)
        length = request.content_length
        assert length is not None
        return {
            "peek": peek_body(request.content, length),
            "body": buffered_body(request, 1024, peek=True),
        }

    seen = await probe(look, [BODY[:20], BODY[20:]])
    assert seen == {"peek": None, "body": BODY}


async def test_peek_refuses_what_is_not_a_whole_body() -> None:
    assert peek_body(object(), 3) is None  # not aiohttp's reader at all

    class Held:
        def __init__(self, chunks: list[Any], offset: int = 0, exc: Any = None) -> None:
            from collections import deque

            self._buffer = deque(chunks)
            self._buffer_offset = offset
            self._exception = exc

    assert peek_body(Held([b"abc"]), 3) == b"abc"
    assert peek_body(Held([b"abc"]), 4) is None  # shorter than declared
    assert peek_body(Held([b"abc"], offset=1), 3) is None  # partly read already
    assert peek_body(Held([b"ab", b"c"]), 3) is None
    assert peek_body(Held([bytearray(b"abc")]), 3) is None
    assert peek_body(Held([b"abc"], exc=ConnectionResetError()), 3) is None


@pytest.mark.parametrize("peek", [True, False])
async def test_roomkey_answers_the_same_with_and_without_peek(
    start_server: StartServer, peek: bool
) -> None:
    settings = replace(make_settings(), performance=PerformanceSettings(peek_body=peek))
    server = await start_server(settings)
    status, body, _ = await post_auth(
        server,
        data=BODY,
        token=make_token("7"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    assert body == {"auth": sign_channel(APP_KEY, APP_SECRET, "1234.5678", "private-user-7")}
    # An oversized body is still refused, whole or not.
    status, body, _ = await post_auth(
        server,
        data=b"socket_id=1234.5678&x=" + b"y" * 20_000,
        token=make_token("7"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 413, body
    # And the REST API reads its body the same way: a signed publish is accepted.
    answer = await signed_post(
        server, f"/apps/{APP_ID}/events", {"name": "e", "channel": "c", "data": "{}"}
    )
    assert answer.status == 200, answer
