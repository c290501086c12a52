"""aiohttp-session's cookie storages (EncryptedCookieStorage, NaClCookieStorage) as identity:
a real aiohttp application logs a user in, and the cookie it sets authorizes at roomkey's
authorize endpoint and identifies the socket at the handshake, on the memory and the Redis
backends. Hostile cookies (forged, truncated, sealed with another key, oversized, expired,
not a session record) are refused with 4009 and never logged."""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import replace
from typing import Any

import aiohttp
import nacl.secret
import nacl.utils
import pytest
from aiohttp_session import AbstractStorage
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from aiohttp_session.nacl_storage import NaClCookieStorage
from cryptography.fernet import Fernet
from nacl.encoding import Base64Encoder

from roomkey.config import SessionSettings, Settings
from tests.support.apps import make_settings
from tests.support.authorize import post_auth
from tests.support.backends import MEMORY_AND_REDIS, redis_settings
from tests.support.login_apps import aiohttp_login_app, serving
from tests.support.metrics import sample
from tests.support.redis_server import RedisServer
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient, refused

pytestmark = pytest.mark.filterwarnings("ignore:It is recommended to use web.RequestKey")

KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))
KINDS = ["aiohttp_encrypted", "aiohttp_nacl"]
SID = "1234.5678"
COOKIE = "AIOHTTP_SESSION"


def storage(kind: str, key: bytes = KEY, max_age: int | None = None) -> AbstractStorage:
    if kind == "aiohttp_encrypted":
        return EncryptedCookieStorage(key, max_age=max_age)
    return NaClCookieStorage(key, max_age=max_age)


def seal(kind: str, record: object, key: bytes = KEY, at: float | None = None) -> str:
    """A cookie value as the storage writes it, of any record, sealed at time ``at``."""
    plain = json.dumps(record).encode()
    if kind == "aiohttp_encrypted":
        fernet = Fernet(base64.urlsafe_b64encode(key))
        return fernet.encrypt_at_time(plain, int(at or time.time())).decode()
    box = nacl.secret.SecretBox(key)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    return box.encrypt(plain, nonce, encoder=Base64Encoder).decode()


def settings_for(
    kind: str, backend: str, request: pytest.FixtureRequest, **session: Any
) -> Settings:
    base = make_settings()
    if backend == "redis":
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        base = replace(base, redis=redis_settings(redis_server.url))
    return replace(base, session=SessionSettings(kind=kind, secret_key=KEY, **session))


async def log_in(app_url: str, user: str, name: str) -> str:
    async with aiohttp.ClientSession() as browser:
        async with browser.post(f"{app_url}/login", json={"user": user, "name": name}) as resp:
            assert resp.status == 200
            return resp.cookies[COOKIE].value


@pytest.mark.parametrize("backend", MEMORY_AND_REDIS)
@pytest.mark.parametrize("kind", KINDS)
async def test_the_apps_cookie_identifies_at_authorize_and_handshake(
    kind: str,
    backend: str,
    request: pytest.FixtureRequest,
    start_server: StartServer,
    connect: ConnectClient,
) -> None:
    server = await start_server(settings_for(kind, backend, request, max_age_seconds=600))
    async with serving(aiohttp_login_app(storage(kind, max_age=600))) as app_url:
        cookie = await log_in(app_url, "u1", "Uma")
    header = {"Cookie": f"{COOKIE}={cookie}"}
    status, body, _ = await post_auth(
        server, {"socket_id": SID, "channel_name": "presence-club"}, headers=header
    )
    assert status == 200, body
    assert body["channel_data"] == '{"user_id":"u1","user_info":{"name":"Uma"}}'
    client = await connect(server, headers=dict(header))  # the client takes the Cookie out
    assert await client.subscribe("private-user-u1") == {"channel": "private-user-u1"}
    assert (await client.subscribe("private-user-u2"))["error"]["code"] == 4009


def hostile_cookies(kind: str, good: str) -> dict[str, tuple[str, str]]:
    """name -> (cookie value, what roomkey answers)."""
    now = time.time()
    old = now - 3600
    return {
        "forged": ("gAAAAABforgedforgedforgedforgedforgedforged==", "invalid session cookie"),
        "truncated": (good[:-12], "invalid session cookie"),
        "other key": (
            seal(kind, {"created": int(now), "session": {"user_id": "u1"}}, OTHER_KEY),
            "invalid session cookie",
        ),
        "oversized": (good + "A" * 5000, "invalid session cookie"),
        "expired": (
            seal(kind, {"created": int(old), "session": {"user_id": "u1"}}, at=old),
            "session has expired",
        ),
        "not an object": (seal(kind, ["user_id", "u1"]), "invalid session cookie"),
        "session not an object": (
            seal(kind, {"created": int(now), "session": "u1"}),
            "invalid session cookie",
        ),
        "not JSON": (_seal_bytes(kind, b"\xff{"), "invalid session cookie"),
        "not logged in": (
            seal(kind, {"created": int(now), "session": {"cart": 1}}),
            "session is not logged in",
        ),
    }


def _seal_bytes(kind: str, plain: bytes) -> str:
    if kind == "aiohttp_encrypted":
        return Fernet(base64.urlsafe_b64encode(KEY)).encrypt(plain).decode()
    box = nacl.secret.SecretBox(KEY)
    return box.encrypt(plain, encoder=Base64Encoder).decode()


@pytest.mark.parametrize("kind", KINDS)
async def test_hostile_cookies_are_refused_and_never_logged(
    kind: str,
    request: pytest.FixtureRequest,
    start_server: StartServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server(settings_for(kind, "memory", request, max_age_seconds=60))
    good = seal(kind, {"created": int(time.time()), "session": {"user_id": "u1"}})
    fields = {"socket_id": SID, "channel_name": "private-user-u1"}
    status, body, _ = await post_auth(server, fields, headers={"Cookie": f"{COOKIE}={good}"})
    assert status == 200, body
    cases = hostile_cookies(kind, good)
    for name, (cookie, message) in cases.items():
        header = {"Cookie": f"{COOKIE}={cookie}"}
        status, body, _ = await post_auth(server, fields, headers=header)
        assert status == 401, name
        assert body["error"]["code"] == 4009, name
        assert body["error"]["message"].startswith(message), (name, body)
        data = await refused(server, {"key": "test-key"}, dict(header))
        assert data["code"] == 4009, name
    text = caplog.text
    assert "refused authorize" in text
    for name, (cookie, _) in cases.items():
        assert cookie not in text, name
    metrics = server.runtime.metrics.render().decode()
    labels = {"source": "session"}
    for reason in ("invalid_session", "expired_session", "unknown_session"):
        counted = sample(metrics, "roomkey_identity_refusals_total", reason=reason, **labels)
        assert counted and counted >= 2, reason


async def test_a_cookie_from_the_storage_with_max_age_expires_in_roomkey_too(
    request: pytest.FixtureRequest, start_server: StartServer
) -> None:
    # aiohttp-session's own max_age: the Fernet token's age is checked as the storage does.
    kind = "aiohttp_encrypted"
    server = await start_server(settings_for(kind, "memory", request, max_age_seconds=5))
    old = time.time() - 10
    cookie = seal(kind, {"created": int(time.time()), "session": {"user_id": "u1"}}, at=old)
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-user-u1"},
        headers={"Cookie": f"{COOKIE}={cookie}"},
    )
    assert status == 401 and body["error"]["message"] == "session has expired"
