"""The kit's recorder and webhook receiver: real hooks, a real watcher, real webhooks."""

from __future__ import annotations

from aiohttp.test_utils import TestServer

import roomkey
from roomkey.testing import (
    AiohttpServer,
    Clients,
    Recorder,
    TokenFactory,
    WebhookReceiver,
    test_settings,
)


async def test_hooks_publishes_and_webhooks_are_recorded(
    aiohttp_server: AiohttpServer,
    roomkey_clients: Clients,
    roomkey_recorder: Recorder,
    roomkey_webhooks: WebhookReceiver,
) -> None:
    settings = test_settings(webhook_url=roomkey_webhooks.url())
    roomkey_webhooks.trust(settings)
    server: TestServer = await aiohttp_server(roomkey.create_app(settings))
    assert server.app is not None
    roomkey_recorder.attach(server.app)
    await roomkey_recorder.watch(server, "private-chat-lobby")
    token = TokenFactory(settings).make("zoe")
    client = await roomkey_clients.connect(server, "pusher", token=token)
    await client.subscribe("presence-lobby")
    occupied = await roomkey_recorder.next_hook("channel_occupied", "presence-lobby")
    assert occupied.app_id == "test-app"
    assert (await roomkey_recorder.next_hook("member_added")).user_id == "zoe"
    assert (await roomkey_webhooks.next_event("member_added"))["user_id"] == "zoe"
    await roomkey.Roomkey.of(server.app).publish(["private-chat-lobby"], "said", {"text": "hi"})
    said = await roomkey_recorder.next_published("private-chat-lobby", "said")
    assert said.data == {"text": "hi"}
    await client.close()
    await roomkey_recorder.next_hook("channel_vacated", "presence-lobby")
    assert (await roomkey_webhooks.next_event("channel_vacated"))["channel"] == "presence-lobby"
    assert not roomkey_webhooks.forged
