"""Requests that aiohttp's parser refuses, each carrying a cookie or token marker, sent over
raw sockets: what a log or an error body must never quote."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import jwt as pyjwt

COOKIE_MARKER = "COOKIEMARKER7f3a9c"
TOKEN_MARKER = "TOKENMARKER5b2e81"
READ_TIMEOUT_S = 10.0


def padded_token(secret: str) -> str:
    """A valid-looking JWT over 8190 bytes whose claims carry ``TOKEN_MARKER``."""
    claims = {"sub": TOKEN_MARKER, "pad": "p" * 9000, "exp": int(time.time()) + 300}
    return pyjwt.encode(claims, secret, algorithm="HS256")


def hostile_requests(token: str) -> list[bytes]:
    """One request per kind of parser error, each quoting a marker where aiohttp would."""
    host = b"Host: 127.0.0.1\r\n"
    cookie = f"Cookie: AIOHTTP_SESSION={COOKIE_MARKER}".encode()
    return [
        # A header over max_field_size: aiohttp quotes its first 100 bytes.
        b"GET /healthz HTTP/1.1\r\n" + host + cookie + b"x" * 9000 + b"\r\n\r\n",
        # A bearer token over it: the token's header and claims.
        b"POST /pusher/auth HTTP/1.1\r\n"
        + host
        + f"Authorization: Bearer {token}\r\n".encode()
        + b"Content-Length: 0\r\n\r\n",
        # A control character in the cookie: the whole header line is quoted.
        b"GET /healthz HTTP/1.1\r\n" + host + cookie + b"\x01tail\r\n\r\n",
        # A request line over max_line_size, a token in its query.
        f"GET /socket.io/?EIO=4&transport=polling&token={COOKIE_MARKER}".encode()
        + b"q" * 9000
        + b" HTTP/1.1\r\n"
        + host
        + b"\r\n",
        # A header name that is not a token.
        b"GET /healthz HTTP/1.1\r\n" + host + f"Coo kie: {COOKIE_MARKER}\r\n\r\n".encode(),
        # A bad Content-Length right after the cookie.
        b"POST /pusher/auth HTTP/1.1\r\n" + host + cookie + b"\r\nContent-Length: 1x\r\n\r\n",
    ]


@dataclass
class Answer:
    status: int
    body: bytes
    raw: bytes


async def send_raw(port: int, request: bytes) -> Answer:
    """Send ``request`` on a fresh connection; the server's whole answer (it closes)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), READ_TIMEOUT_S)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return Answer(status, body, raw)


def assert_roomkey_refusal(answer: Answer) -> None:
    """A 400 with roomkey's own JSON error (4300), quoting nothing of the request."""
    assert answer.status == 400, answer.raw[:300]
    error = json.loads(answer.body)["error"]
    assert error["code"] == 4300 and error["message"].startswith("malformed HTTP request"), error
