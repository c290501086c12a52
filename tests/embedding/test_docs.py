"""docs/embedding.md's complete application, run as written: a user logs in through the
application's own route, the cookie identifies them on both transports under the prefix, a
route publishes to them, the presence lobby lists them and the hook hears them join."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from yarl import URL

import roomkey
from tests.support.paths import DOCS_DIR
from tests.support.pusher import RawPusherFactory
from tests.support.servers import RunningServers, Server
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


def example_module(tmp_path: Path) -> ModuleType:
    """The example, verbatim, imported from a file of its own (``chat.py``)."""
    text = (DOCS_DIR / "embedding.md").read_text()
    block = text.split("<!-- embedding-example:start -->", 1)[1]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "chat.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("chat_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chat_example"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Server]:
    module = example_module(tmp_path)
    servers = RunningServers()
    try:
        app = module.make_app()
        yield await servers.serve(app, roomkey.Roomkey.of(app).prefix)
    finally:
        await servers.close()
        sys.modules.pop("chat_example", None)


async def test_the_documented_application_works(
    chat: Server,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="chat")
    assert chat.prefix == "/realtime"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{chat.url}/me") as resp:
            assert await resp.json() == {"user_id": None}
        async with http.post(
            f"{chat.url}/login", data={"name": "Ada"}, allow_redirects=False
        ) as resp:
            assert resp.status == 302
        async with http.get(f"{chat.url}/me") as resp:
            user_id = (await resp.json())["user_id"]
        assert user_id
        cookies = http.cookie_jar.filter_cookies(URL(chat.url))
        cookie = {"Cookie": "; ".join(f"{k}={m.value}" for k, m in cookies.items())}

        # Socket.IO under the prefix, identified by the cookie.
        sio = await connect(chat, key="chat-key", headers=cookie)
        channel = f"private-user-{user_id}"
        assert await sio.subscribe(channel) == {"channel": channel}
        assert (await sio.subscribe("presence-lobby"))["channel"] == "presence-lobby"
        # The Pusher protocol at wsPath /realtime, authorized by the cookie.
        pusher = await raw_pusher.established(chat, key="chat-key")
        async with http.post(
            f"{chat.url}/realtime/pusher/auth",
            data={"socket_id": pusher.socket_id, "channel_name": channel},
        ) as resp:
            assert resp.status == 200, await resp.text()
            signed = await resp.json()
        joined = await pusher.subscribe(channel, auth=signed["auth"])
        assert joined["event"] == "pusher_internal:subscription_succeeded"

        async with http.post(f"{chat.url}/notify/{user_id}") as resp:
            assert await resp.json() == {"sent": True}
        got = await sio.next("event")
        assert (got["event"], got["data"]) == ("notice", '{"text":"hello"}')
        assert (await pusher.next_event("notice"))["data"] == '{"text":"hello"}'

        async with http.get(f"{chat.url}/lobby") as resp:
            assert await resp.json() == [{"id": user_id, "info": {"name": "Ada"}}]
        await wait_for_condition(
            lambda: f"{user_id} joined presence-lobby" in caplog.text, "the hook's log line"
        )

        async with http.post(f"{chat.url}/logout", allow_redirects=False) as resp:
            assert resp.status == 302
        async with http.get(f"{chat.url}/me") as resp:
            assert await resp.json() == {"user_id": None}
