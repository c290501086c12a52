"""Logs: one structured line per connection and refusal, never a secret, token, signature,
cookie or channel_data; untrusted values escaped; floods logged once with a count."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
import jwt as pyjwt
import socketio

from roomkey.logs import RepeatFilter, clean, log_event
from roomkey.signing import sign_channel
from tests.serve_process import serve_process

KEY, SECRET = "logs-key", "logs-secret-SECRETVALUE-0123"
JWT_SECRET = "jwt-secret-JWTSECRETVALUE-0123456789abcdef"
COOKIE = "COOKIEVALUE-abcdef0123456789"
CONFIG = f"""
[server]
log_format = "json"
[jwt]
secret = "{JWT_SECRET}"
[[apps]]
id = "1"
key = "{KEY}"
secret = "{SECRET}"
[[apps.rules]]
pattern = "private-*"
[[apps.rules]]
pattern = "presence-*"
"""


async def test_logs_never_carry_secrets_and_floods_are_collapsed() -> None:
    token = pyjwt.encode(
        {"sub": "u1", "name": "CHANNELDATANAME", "exp": int(time.time()) + 300},
        JWT_SECRET,
        algorithm="HS256",
    )
    with serve_process(CONFIG) as server:
        client = socketio.AsyncClient(reconnection=False)
        got: asyncio.Queue[Any] = asyncio.Queue()
        client.on("connection_established", lambda d: got.put_nowait(d))
        await client.connect(
            server.url,
            auth={"key": KEY, "token": token},
            headers={"Cookie": f"AIOHTTP_SESSION={COOKIE}"},
            transports=["websocket"],
        )
        socket_id = (await asyncio.wait_for(got.get(), 5))["socket_id"]
        secrets_seen: list[str] = [SECRET, JWT_SECRET, token, COOKIE]
        async with aiohttp.ClientSession() as http:
            for channel in ("private-a", "presence-room"):
                resp = await http.post(
                    f"{server.url}/pusher/auth",
                    data={"socket_id": socket_id, "channel_name": channel},
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Cookie": f"AIOHTTP_SESSION={COOKIE}",
                    },
                )
                body = await resp.json()
                assert resp.status == 200, body
                signature = body["auth"].split(":", 1)[1]
                secrets_seen.append(signature)
                answer = await client.call("subscribe", {"channel": channel, **body})
                assert answer["channel"] == channel
                if "channel_data" in body:
                    secrets_seen.append(body["channel_data"])
            # Refusals with a wrong but real-looking signature, and garbage to escape.
            bad = sign_channel(KEY, "another-secret-0123456789", socket_id, "private-b")
            secrets_seen.append(bad.split(":", 1)[1])
            for _ in range(30):
                answer = await client.call("subscribe", {"channel": "private-b", "auth": bad})
                assert answer["error"]["code"] == 4009
            resp = await http.post(
                f"{server.url}/pusher/auth",
                data={"socket_id": socket_id, "channel_name": "\x1b[31m" + "z" * 500},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert resp.status == 400
        await client.disconnect()
        await asyncio.sleep(0.3)
        logs = server.log()
    for value in secrets_seen:
        assert value not in logs, f"leaked {value[:12]}..."
    assert "CHANNELDATANAME" not in logs
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    opens = [r for r in lines if r["msg"] == "connection open"]
    closes = [r for r in lines if r["msg"] == "connection close"]
    assert len(opens) == 1 and len(closes) == 1
    assert opens[0]["app"] == "1" and opens[0]["socket_id"] == socket_id
    refused = [r for r in lines if r["msg"] == "refused subscribe"]
    assert len(refused) == 1, "30 identical refusals must be logged once"
    assert refused[0]["reason"] == "unauthorized" and refused[0]["socket_id"] == socket_id
    assert "\x1b" not in logs
    refused_auth = [r for r in lines if r["msg"] == "refused authorize"]
    assert len(refused_auth) == 1
    assert refused_auth[0]["app"] == "1" and refused_auth[0]["socket_id"] == socket_id
    assert refused_auth[0]["address"] == "127.0.0.1"


def test_repeat_filter_counts_what_it_suppressed() -> None:
    now = [0.0]
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("roomkey.test-repeat")
    logger.propagate = False
    handler = Keep()
    handler.addFilter(RepeatFilter(window=10.0, clock=lambda: now[0]))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for _ in range(50):
            log_event(logger, logging.INFO, "refused x", repeat_key="x:4009", socket_id="1.1")
        log_event(logger, logging.INFO, "refused y", repeat_key="y:4100")
        log_event(logger, logging.INFO, "connection open", socket_id="1.1")
        log_event(logger, logging.INFO, "connection open", socket_id="1.1")
        now[0] = 11.0
        log_event(logger, logging.INFO, "refused x", repeat_key="x:4009", socket_id="1.2")
    finally:
        logger.removeHandler(handler)
    msgs = [r.getMessage() for r in records]
    assert msgs == ["refused x", "refused y", "connection open", "connection open", "refused x"]
    assert records[-1].roomkey_fields["repeated"] == "49"  # type: ignore[attr-defined]


def test_clean_escapes_and_truncates() -> None:
    assert clean("a\nb\x1b") == "a\\nb\\x1b"
    assert len(clean("x" * 10_000)) < 300
