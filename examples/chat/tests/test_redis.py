"""The application on two nodes sharing a real redis-server: a notice published by one
node reaches a user connected to the other, and the login (a Redis session) holds on both."""

from __future__ import annotations

import pytest

from chat.app import create_chat_app
from roomkey import Settings
from roomkey.testing import AiohttpServer, Clients

pytestmark = pytest.mark.redis


async def test_a_notice_crosses_nodes(
    aiohttp_server: AiohttpServer,
    redis_settings: Settings,
    roomkey_clients: Clients,
    roomkey_transport: str,
) -> None:
    node_a = await aiohttp_server(create_chat_app(redis_settings))
    node_b = await aiohttp_server(create_chat_app(redis_settings))
    dana = roomkey_clients.open(node_a, roomkey_transport)
    await dana.post("/login", json={"user": "dana"})
    await dana.connect()
    await dana.subscribe("private-user-dana")
    sender = roomkey_clients.open(node_b)
    await sender.post("/notify", json={"to": "dana", "text": "from b"})
    assert (await dana.next_event("private-user-dana", "notice")).data == {"text": "from b"}
