"""No secret, token, signature, cookie or channel_data ever reaches a log line."""

from __future__ import annotations

import logging

import pytest

from roomkey.logs import JsonFormatter, TextFormatter
from tests.authorize_client import post_auth
from tests.conftest import APP_SECRET, JWT_SECRET, ConnectClient, Server, make_token
from tests.handshake_client import refused


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
