"""What ``roomkey serve`` logs: one structured line per connection and refusal, never a
secret, token, signature, cookie or channel_data; untrusted values escaped; floods logged once
with a count; embedded in another application, the host's logging stays the host's. The
refusals of the HTTP edges in the test's own loop are in tests/http/test_logs.py, the
formatting and flood control themselves in tests/unit/test_logs.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
import socketio

from roomkey.core.signing import sign_channel
from tests.support.hostile_http import (
    COOKIE_MARKER,
    TOKEN_MARKER,
    assert_roomkey_refusal,
    hostile_requests,
    padded_token,
    send_raw,
)
from tests.support.processes import START_TIMEOUT_S, STOP_TIMEOUT_S, serve_process
from tests.support.raw_socketio import RawSocketIO
from tests.support.servers import free_port
from tests.support.waiting import wait_for_condition_blocking

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
        server.stop()  # every line written, flood counts included
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
    assert len([r for r in refused if "repeated" not in r]) == 1, "30 refusals: one line"
    assert occurrences(refused) == 30, "and the count of the others"
    assert refused[0]["reason"] == "unauthorized" and refused[0]["socket_id"] == socket_id
    assert "\x1b" not in logs
    refused_auth = [r for r in lines if r["msg"] == "refused authorize"]
    assert len(refused_auth) == 1
    assert refused_auth[0]["app"] == "1" and refused_auth[0]["socket_id"] == socket_id
    assert refused_auth[0]["address"] == "127.0.0.1"


# -- hostile traffic against `roomkey serve`: library loggers, floods, secrets ---------------

HOSTILE_CONFIG = """
[server]
log_format = "{fmt}"
[jwt]
secret = "{jwt_secret}"
[[apps]]
id = "1"
key = "{key}"
secret = "{secret}"
"""
MALFORMED_SOCKETIO = ["42", "42[", "42{}", "42[1,", "42\x00"]
BAD_PACKETS = 2000
HTTP_FLOOD = 30
WINDOW_S = 10.0  # RepeatFilter's window in `roomkey serve`
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (debug|info|warning|error|critical) (\S+) "
)


def parse_lines(log: str, fmt: str) -> list[dict[str, str]]:
    """Each line as ``{"msg", "logger", **fields}``; fails on a line that is not one record."""
    out = []
    for line in log.splitlines():
        if fmt == "json":
            record = json.loads(line)
            assert isinstance(record, dict), line
            out.append({k: str(v) for k, v in record.items()})
            continue
        match = TEXT_LINE.match(line)
        assert match, f"not one record per line: {line[:200]!r}"
        logger, rest = match.group(2), line[match.end() :]
        fields = dict(re.findall(r' (\w+)=("(?:[^"\\]|\\.)*"|\S+)', rest))
        msg = re.split(r" \w+=", rest, maxsplit=1)[0]
        parsed = {k: json.loads(v) if v.startswith('"') else v for k, v in fields.items()}
        out.append({"msg": msg, "logger": logger, **parsed})
    return out


def occurrences(lines: list[dict[str, str]]) -> int:
    """How many times a line was logged: lines written, plus those a summary counts."""
    return sum(int(r["repeated"]) if "repeated" in r else 1 for r in lines)


async def flood_socketio(port: int) -> None:
    """``BAD_PACKETS`` malformed Socket.IO packets on one socket, then a subscribe on it that
    must still be answered (the server read them all, and goes on serving the socket)."""
    raw = await RawSocketIO.open(port)
    await raw.recv_until("0")
    raw.send("40" + json.dumps({"key": KEY}))
    await raw.recv_until("40")
    for i in range(BAD_PACKETS):
        raw.send(MALFORMED_SOCKETIO[i % len(MALFORMED_SOCKETIO)])
    raw.send('421["subscribe",{"channel":"public-after-flood"}]')
    for _ in range(2 * BAD_PACKETS + 50):  # whatever the server said about each bad packet
        frame = await raw.recv()
        if frame == "2":
            raw.send("3")
        if frame.startswith("431"):
            assert "public-after-flood" in frame
            break
    else:
        raise AssertionError("the subscribe after the flood was not answered")
    raw.close()


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_hostile_traffic_is_a_few_counted_lines_without_secrets(fmt: str) -> None:
    config = HOSTILE_CONFIG.format(fmt=fmt, jwt_secret=JWT_SECRET, key=KEY, secret=SECRET)
    token = padded_token(JWT_SECRET)
    claims_segment = token.split(".")[1]
    requests = hostile_requests(token)
    answers = []
    started = time.monotonic()
    with serve_process(config) as server:
        await flood_socketio(server.port)
        for request in [*requests, *[requests[0]] * HTTP_FLOOD]:
            answers.append(await send_raw(server.port, request))
        # Still serving a well-behaved client.
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(server.url, auth={"key": KEY}, transports=["websocket"])
        assert await client.call("subscribe", {"channel": "public-ok"}, timeout=10) == {
            "channel": "public-ok"
        }
        await client.disconnect()
        server.stop()  # graceful: pending flood counts are written before the exit
        assert server.process.returncode == 0
        elapsed = time.monotonic() - started
        log = server.log()
    windows = 2 + int(elapsed // WINDOW_S)  # the first line, then one count per window
    for secret in (COOKIE_MARKER, TOKEN_MARKER, claims_segment[:24], token[:40], JWT_SECRET):
        assert secret not in log
    assert "Traceback" not in log
    assert len(log) < 16_000 + 2_000 * windows, f"{len(log)} bytes of log"
    lines = parse_lines(log, fmt)
    assert all(len(line) < 2_000 for line in log.splitlines())
    by_msg: dict[tuple[str, str], list[dict[str, str]]] = {}
    for record in lines:
        by_msg.setdefault((record["logger"], record["msg"]), []).append(record)
    for (logger, msg), group in by_msg.items():
        assert len(group) <= 2 * windows, f"{logger} {msg!r} written {len(group)} times"
        if not logger.startswith("roomkey"):  # a library's line: no exception text, ever
            assert all("exc" not in r for r in group)
    refused_http = [r for r in lines if r["msg"] == "refused http request"]
    assert occurrences(refused_http) == len(answers)
    assert {r["reason"] for r in refused_http} == {"header_too_large", "malformed_http"}
    assert any(int(r.get("repeated", 0)) >= HTTP_FLOOD for r in refused_http)
    # The malformed packets, whichever logger reports them: at most one each, one line per
    # window, and an exception as its type and place.
    flood = [r for r in lines if r["logger"].startswith(("engineio", "socketio"))]
    assert occurrences(flood) <= BAD_PACKETS
    handler_errors = [r for r in flood if r["msg"].endswith("handler error")]
    assert all("error" in r and "at" in r for r in handler_errors)
    # What the clients were told: roomkey's error, nothing of what they sent.
    for answer in answers:
        for secret in (COOKIE_MARKER, TOKEN_MARKER, claims_segment[:24], token[:40]):
            assert secret.encode() not in answer.raw
        assert_roomkey_refusal(answer)


# -- roomkey embedded in another application: the host's logging stays the host's ------------


@contextlib.contextmanager
def embedded_host(host_logging: str) -> Iterator[tuple[int, Callable[[], str]]]:
    """``tests.support.embedded_host`` on a free port; yields the port and a function that stops it
    (SIGTERM, graceful) and returns its stderr."""
    workdir = Path(tempfile.mkdtemp(prefix="roomkey-embedded-"))
    config = workdir / "roomkey.toml"
    config.write_text(
        HOSTILE_CONFIG.format(fmt="text", jwt_secret=JWT_SECRET, key=KEY, secret=SECRET)
    )
    log_path = workdir / "stderr.log"
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.embedded_host",
                str(config),
                str(port),
                host_logging,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop() -> str:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(STOP_TIMEOUT_S)
        return log_path.read_text(errors="replace")

    try:

        def answers() -> bool:
            assert process.poll() is None, stop()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/host", timeout=1):
                    return True
            except OSError:
                return False

        try:
            wait_for_condition_blocking(
                answers, "the host to answer", timeout=START_TIMEOUT_S, interval=0.05
            )
        except AssertionError:
            raise AssertionError(f"the host did not start:\n{stop()}") from None
        yield port, stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT_S)


async def refused_connect(port: int) -> None:
    """A Socket.IO connect with an unknown key: roomkey logs ``refused socketio connect``."""
    raw = await RawSocketIO.open(port)
    await raw.recv_until("0")
    raw.send('40{"key":"no-such-key"}')
    assert "4001" in await raw.recv_until("44")
    raw.close()


async def test_embedded_without_logging_roomkey_writes_its_own_lines() -> None:
    """The host configured no logging: roomkey's INFO lines would vanish (Python's last
    resort writes warnings only), so roomkey writes them itself, one line each."""
    with embedded_host("none") as (port, stop):
        await refused_connect(port)
        await flood_socketio(port)
        assert_roomkey_refusal(await send_raw(port, hostile_requests("t")[0]))
        log = stop()
    assert "ROOT_HANDLERS=[]" in log  # the root logger is the host's: untouched
    assert "Traceback" not in log and COOKIE_MARKER not in log
    lines = parse_lines("\n".join(x for x in log.splitlines() if "ROOT_HANDLERS" not in x), "text")
    assert [r["reason"] for r in lines if r["msg"] == "refused socketio connect"] == ["unknown_app"]
    assert [r["reason"] for r in lines if r["msg"] == "refused http request"] == [
        "header_too_large"
    ]
    flood = [r for r in lines if r["logger"].startswith(("engineio", "socketio"))]
    assert len(flood) <= 3 and occurrences(flood) <= BAD_PACKETS


async def test_embedded_with_host_logging_roomkey_lines_go_to_the_host() -> None:
    """The host configured logging: roomkey's lines go through the host's handler and
    format; roomkey adds no handler, and the socket libraries' lines stay one per window
    without a traceback."""
    with embedded_host("basic") as (port, stop):
        await refused_connect(port)
        await flood_socketio(port)
        assert_roomkey_refusal(await send_raw(port, hostile_requests("t")[0]))
        log = stop()
    assert "ROOT_HANDLERS=['StreamHandler']" in log
    assert "HOST|roomkey|refused socketio connect" in log
    assert "HOST|roomkey|refused http request" in log
    assert not [x for x in log.splitlines() if x[:1].isdigit()], "a line in roomkey's format"
    assert "Traceback" not in log and COOKIE_MARKER not in log
    # roomkey answers malformed packets before the libraries see them; whatever they still
    # log reaches the host's handler one line per window.
    flood = [x for x in log.splitlines() if x.startswith(("HOST|engineio", "HOST|socketio"))]
    assert len(flood) <= 3, flood
