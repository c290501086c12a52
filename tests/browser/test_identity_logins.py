"""A user logs in at the app in Chromium, and the cookie the app set identifies the user to
roomkey: at the authorize endpoint (a presence channel's member) and at the socket's
handshake (a private channel subscribed without ``auth``). One test per cookie source: an
aiohttp app with aiohttp-session's EncryptedCookieStorage, one with NaClCookieStorage, and
the Express app (express-session, connect-redis). The app and roomkey are on two ports of
127.0.0.1: two origins (roomkey lists the app's in allowed_origins) of one site, so the
browser sends the app's cookie to roomkey."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from aiohttp_session.nacl_storage import NaClCookieStorage
from playwright.async_api import async_playwright

from roomkey.config import ServerSettings, SessionSettings, Settings
from tests.support.apps import APP_KEY, make_settings
from tests.support.backends import redis_settings
from tests.support.browser import TIMEOUT_MS, launch_chromium_async
from tests.support.express_app import running_express
from tests.support.login_apps import aiohttp_login_app, serving
from tests.support.redis_server import RedisServer
from tests.support.servers import StartServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:It is recommended to use web.RequestKey"),
]

KEY = bytes(range(32))
SECRET = "express-browser-secret-0123456789"


def settings_for(app_origin: str, session: SessionSettings, redis_url: str = "") -> Settings:
    base = make_settings()
    settings = replace(base, server=ServerSettings(allowed_origins=(app_origin,)), session=session)
    return replace(settings, redis=redis_settings(redis_url)) if redis_url else settings


async def log_in_and_join(app_url: str, roomkey_url: str) -> dict[str, Any]:
    """In Chromium: log in at the app's page, then join roomkey's presence channel (the
    authorize endpoint) and a private channel on the handshake identity."""
    async with async_playwright() as pw:
        browser = await launch_chromium_async(pw)
        try:
            page = await browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(f"{app_url}/?roomkey={roomkey_url}&key={APP_KEY}")
            await page.wait_for_function("document.body && document.body.dataset.ready")
            assert await page.evaluate("login('u1', 'Uma')") == 200
            result: dict[str, Any] = await page.evaluate(
                "joinRoomkey('presence-club', 'private-user-u1')"
            )
            return result
        finally:
            await browser.close()


EXPECTED = {
    "me": {"id": "u1", "info": {"name": "Uma"}},
    "handshake": {"channel": "private-user-u1"},
}


@pytest.fixture
async def served_encrypted() -> AsyncIterator[str]:
    async with serving(aiohttp_login_app(EncryptedCookieStorage(KEY, max_age=600))) as url:
        yield url


@pytest.fixture
async def served_nacl() -> AsyncIterator[str]:
    async with serving(aiohttp_login_app(NaClCookieStorage(KEY, max_age=600))) as url:
        yield url


async def test_aiohttp_encrypted_cookie_login(
    served_encrypted: str, start_server: StartServer
) -> None:
    session = SessionSettings(kind="aiohttp_encrypted", secret_key=KEY, max_age_seconds=600)
    server = await start_server(settings_for(served_encrypted, session))
    assert await log_in_and_join(served_encrypted, server.url) == EXPECTED


@pytest.mark.redis
async def test_aiohttp_nacl_cookie_login_on_the_redis_backend(
    served_nacl: str, start_server: StartServer, redis_server: RedisServer
) -> None:
    session = SessionSettings(kind="aiohttp_nacl", secret_key=KEY, max_age_seconds=600)
    server = await start_server(settings_for(served_nacl, session, redis_server.url))
    assert await log_in_and_join(served_nacl, server.url) == EXPECTED


@pytest.mark.redis
@pytest.mark.node
async def test_express_session_login(start_server: StartServer, redis_server: RedisServer) -> None:
    with running_express(redis_server.url, [SECRET]) as express:
        session = SessionSettings(
            kind="express",
            cookie_name="connect.sid",
            redis_url=redis_server.url,
            secrets=(SECRET,),
            user_id_key="passport.user.id",
            user_info_keys=("passport.user.name",),
        )
        server = await start_server(settings_for(express.url, session))
        assert await log_in_and_join(express.url, server.url) == EXPECTED
