"""The example application's fixtures, on roomkey's test kit."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from chat.app import create_chat_app
from roomkey import Settings
from roomkey.testing import AiohttpServer, test_settings

pytest_plugins = ["roomkey.testing.plugin"]


@pytest.fixture
async def chat(aiohttp_server: AiohttpServer, roomkey_settings: Settings) -> TestServer:
    """The application (roomkey under /realtime) on a free port, memory backends."""
    return await aiohttp_server(create_chat_app(roomkey_settings))


@pytest.fixture
def redis_settings(roomkey_redis_url: str) -> Settings:
    """Settings on the session's real redis-server: broker, presence and sessions."""
    from roomkey.config import SessionSettings

    return test_settings(redis_url=roomkey_redis_url, session=SessionSettings(store="redis"))
