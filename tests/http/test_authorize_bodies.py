"""How the authorize endpoints read request bodies: a bad or oversized body is refused (400,
413), one that arrives in pieces is read whole, and each is held to the limit of the app it
names (``app_key``).

And ``performance.peek_body``: a small body that has all arrived is looked at where aiohttp
holds it, never taken out (``_patches/aiohttp_body.py``). These tests pin that the aiohttp in use still
holds a body the way ``peek_body`` expects (if it stops, the peek quietly falls back and the
first test fails, saying so), that a body in pieces falls back to reading, and that roomkey
answers the same either way."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from roomkey._patches.aiohttp_body import peek_body
from roomkey.config import Limits, PerformanceSettings, Settings
from roomkey.core.signing import sign_channel
from roomkey.http.context import buffered_body
from tests.support.apps import (
    APP_ID,
    APP_KEY,
    APP_SECRET,
    OTHER_APP,
    make_settings,
    make_token,
)
from tests.support.authorize import post_auth
from tests.support.rest import signed_post
from tests.support.servers import Server, StartServer
from tests.support.waiting import wait_for_condition

# -- performance.peek_body: a whole body looked at where aiohttp holds it, else read -----------

BODY = b"socket_id=1234.5678&channel_name=private-user-7"
SID = "1234.5678"
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
        await wait_for_condition(
            request.content.is_eof, "both pieces of the body, held as two chunks", timeout=3
        )
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


# -- bodies: refused when bad or too large, read whole when they arrive in pieces ----------


async def test_bad_bodies(server: Server) -> None:
    token = make_token("7")
    for kwargs in (
        {"json_body": ["socket_id"]},
        {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"data": b"[" * 8000, "headers": {"Content-Type": "application/json"}},
        {"data": b"socket_id=1.2", "headers": {"Content-Type": "text/plain"}},
        {"data": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ):
        status, body, _ = await post_auth(server, token=token, **kwargs)
        assert status == 400, kwargs
        assert body["error"]["code"] == 4300


async def test_oversized_body_is_413(server: Server) -> None:
    fields = {"socket_id": SID, "channel_name": "private-user-7", "pad": "x" * 9000}
    status, body, _ = await post_auth(server, fields, token=make_token("7"))
    assert status == 413
    assert "larger than 8192 bytes" in body["error"]["message"]


async def test_oversized_chunked_body_is_413(server: Server) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    status, _, _ = await post_auth(server, data=chunks(), token=make_token("7"))
    assert status == 413


async def test_body_arriving_in_pieces_is_read_whole(server: Server) -> None:
    async def pieces() -> Any:
        yield b"socket_id=1234.5678&chan"
        await asyncio.sleep(0.1)  # a second TCP segment, later
        yield b"nel_name=private-user-7"

    status, body, _ = await post_auth(
        server,
        data=pieces(),
        token=make_token("7"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    assert body == {"auth": sign_channel(APP_KEY, APP_SECRET, SID, "private-user-7")}


async def test_empty_body_names_the_missing_field(server: Server) -> None:
    status, body, _ = await post_auth(server, data=b"", token=make_token("7"))
    assert status == 400
    assert "socket_id" in body["error"]["message"]


async def test_declared_length_body_split_across_segments_and_short_body(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """A Content-Length body sent in two writes is read whole; a client that stops before
    its declared length gets no answer (it hung up) and leaves no error in the logs."""
    body = b"socket_id=1234.5678&channel_name=private-user-7"
    head = (
        "POST /pusher/auth HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {make_token('7')}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body[:20])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(body[20:])
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    assert b" 200 " in status_line
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"{head}Content-Length: {len(body) + 10}\r\n\r\n".encode() + body)
    await writer.drain()
    writer.write_eof()
    assert b" 500 " not in await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    status, _, _ = await post_auth(
        server, {"socket_id": SID, "channel_name": "private-user-7"}, token=make_token("7")
    )
    assert status == 200


# -- each body held to the limit of the app it names (app_key), whichever is first ---------


def limited(first: int, second: int) -> Settings:
    settings = make_settings(limits=replace(Limits(), max_authorize_body_bytes=first))
    other = replace(OTHER_APP, limits=replace(Limits(), max_authorize_body_bytes=second))
    return replace(settings, apps=(settings.apps[0], other))


async def user_auth(
    server: Server, socket_id: str, app_key: str, size: int
) -> aiohttp.ClientResponse:
    """A form-encoded ``/pusher/user-auth`` request padded to exactly ``size`` bytes."""
    fields = f"socket_id={socket_id}&app_key={app_key}&padding="
    body = fields + "x" * (size - len(fields))
    assert len(body) == size
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/pusher/user-auth",
            data=body.encode(),
            headers={
                "Authorization": f"Bearer {make_token('7')}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ) as resp,
    ):
        await resp.read()
        return resp


async def answer(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    data = await resp.json()
    assert isinstance(data, dict)
    return data


async def test_a_later_app_with_a_larger_limit_gets_its_own_limit(
    start_server: StartServer,
) -> None:
    server = await start_server(limited(first=300, second=4000))
    ok = await user_auth(server, "1.2", OTHER_APP.key, 1000)
    assert ok.status == 200
    body = await answer(ok)
    # Signed for the app the body named, as Pusher signs a user sign-in.
    signed = f"1.2::user::{body['user_data']}".encode()
    mac = hmac.new(OTHER_APP.secret.encode(), signed, hashlib.sha256).hexdigest()
    assert body["auth"] == f"{OTHER_APP.key}:{mac}"
    # The first app's own limit still applies to requests for the first app.
    small = await user_auth(server, "1.2", APP_KEY, 1000)
    assert small.status == 413
    assert "max_authorize_body_bytes (300 bytes)" in (await answer(small))["error"]["message"]
    assert (await user_auth(server, "1.2", APP_KEY, 290)).status == 200
    # Past the largest limit of any app the body is not even read.
    assert (await user_auth(server, "1.2", OTHER_APP.key, 4100)).status == 413


async def test_a_later_app_with_a_smaller_limit_is_held_to_it(start_server: StartServer) -> None:
    server = await start_server(limited(first=8192, second=300))
    assert (await user_auth(server, "1.2", OTHER_APP.key, 1000)).status == 413
    assert (await user_auth(server, "1.2", OTHER_APP.key, 290)).status == 200
    assert (await user_auth(server, "1.2", APP_KEY, 1000)).status == 200
