"""What roomkey logs of the requests it refuses, in the test's own loop: no secret, token,
signature, cookie or channel_data ever reaches a log line, requests aiohttp cannot parse are
refused with roomkey's own error and counted, and a bad token is named, never quoted. What
``roomkey serve`` writes is in tests/sockets/test_logs.py, the formatting itself in
tests/unit/test_logs.py."""

from __future__ import annotations

import base64
import json
import logging
import time

import aiohttp
import jwt as pyjwt
import pytest

from roomkey.logs import (
    JsonFormatter,
    TextFormatter,
)
from tests.support.apps import APP_SECRET, JWT_SECRET, make_token
from tests.support.authorize import post_auth
from tests.support.hostile_http import (
    COOKIE_MARKER,
    TOKEN_MARKER,
    assert_roomkey_refusal,
    hostile_requests,
    padded_token,
    send_raw,
)
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient, refused


async def test_refusals_and_successes_log_no_secrets(
    server: Server, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = make_token("7", name="Ada")
    bad_token = make_token("7", expires_in=-10)
    sessions = server.runtime.sessions
    assert sessions is not None
    cookie = await sessions.save({"user_id": "7"})
    client = await connect(server, token=token, headers={"Cookie": f"AIOHTTP_SESSION={cookie}"})
    status, body, _ = await post_auth(
        server, {"socket_id": client.socket_id, "channel_name": "presence-x"}, token=token
    )
    assert status == 200
    secrets = [
        token,
        bad_token,
        cookie,
        body["auth"],
        body["auth"].split(":")[1],
        body["channel_data"],
    ]
    await client.subscribe("presence-x", auth=body["auth"], channel_data=body["channel_data"])
    # Refused: a signature for a channel it does not match, altered channel_data, bad tokens.
    await client.subscribe("presence-y", auth=body["auth"], channel_data=body["channel_data"])
    await client.subscribe("private-z", auth=body["auth"])
    await post_auth(server, {"socket_id": "1.2", "channel_name": "private-user-7"}, token=bad_token)
    await post_auth(
        server,
        {"socket_id": "1.2", "channel_name": "private-user-7"},
        cookies={"AIOHTTP_SESSION": cookie + "x"},
    )
    await refused(server, {"key": "test-key", "token": bad_token})
    await client.client.disconnect()
    assert any("refused" in r.getMessage() for r in caplog.records)
    for formatter in (TextFormatter(), JsonFormatter()):
        text = "\n".join(formatter.format(r) for r in caplog.records)
        for secret in [*secrets, APP_SECRET, JWT_SECRET]:
            assert secret not in text


async def test_malformed_requests_are_refused_counted_and_quote_nothing(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = padded_token(JWT_SECRET)
    requests = hostile_requests(token)
    for request in requests:
        answer = await send_raw(server.port, request)
        assert_roomkey_refusal(answer)
        for secret in (COOKIE_MARKER, TOKEN_MARKER, token[:40]):
            assert secret.encode() not in answer.raw
    refused = [r for r in caplog.records if r.getMessage() == "refused http request"]
    assert refused and all(r.name == "roomkey" for r in refused)
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("aiohttp")]
    for formatter in (TextFormatter(), JsonFormatter()):
        text = "\n".join(formatter.format(r) for r in caplog.records)
        for secret in (COOKIE_MARKER, TOKEN_MARKER, token[:40]):
            assert secret not in text
    metrics = server.runtime.metrics.render().decode()
    assert 'roomkey_refusals_total{reason="header_too_large",what="http request"} 3.0' in metrics
    assert 'roomkey_refusals_total{reason="malformed_http",what="http request"} 3.0' in metrics
    # The server goes on answering.
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200


async def test_bad_tokens_are_refused_without_being_quoted(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """roomkey's own JWT paths: the refusal names what was wrong, never the token."""
    caplog.set_level(logging.DEBUG)

    def b64(value: object) -> str:
        raw = json.dumps(value).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    forged = f"{b64({'alg': 'none', 'kid': TOKEN_MARKER})}.{b64({'sub': TOKEN_MARKER})}."
    tokens = [
        f"not-a-jwt-{TOKEN_MARKER}",
        f"{b64({'alg': 'HS256'})}.{TOKEN_MARKER}.{TOKEN_MARKER}",
        forged,
        make_token(TOKEN_MARKER, expires_in=-100),
        make_token(TOKEN_MARKER, secret="another-secret-0123456789-0123456789"),
        pyjwt.encode({"exp": int(time.time()) + 60, "who": TOKEN_MARKER}, JWT_SECRET),
        "x" * 8000 + TOKEN_MARKER,
    ]
    for token in tokens:
        status, body, _ = await post_auth(
            server, {"socket_id": "1.2", "channel_name": "private-user-7"}, token=token
        )
        assert status == 401, body
        assert TOKEN_MARKER not in json.dumps(body) and token not in json.dumps(body)
    await refused(server, {"key": "test-key", "token": forged})
    for formatter in (TextFormatter(), JsonFormatter()):
        text = "\n".join(formatter.format(r) for r in caplog.records)
        assert TOKEN_MARKER not in text
        assert not [t for t in tokens if t in text]
