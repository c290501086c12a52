"""The kit's test client (roomkey.testing) against a standalone roomkey on pytest-aiohttp's
test server: every transport connects, authorizes through the real endpoint with its own
cookies or token, subscribes, receives, and is refused where roomkey refuses."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestServer

import roomkey
from roomkey.testing import (
    MEMBER_ADDED,
    MEMBER_REMOVED,
    Clients,
    Refused,
    TokenFactory,
    open_client,
)


async def publish(server: TestServer, channel: str, event: str, data: Any) -> None:
    assert server.app is not None
    await roomkey.Roomkey.of(server.app).publish([channel], event, data)


async def test_a_token_user_receives_on_their_own_channel_and_another_is_refused(
    roomkey_server: TestServer,
    roomkey_clients: Clients,
    roomkey_tokens: TokenFactory,
    roomkey_transport: str,
) -> None:
    alice = await roomkey_clients.connect(
        roomkey_server, roomkey_transport, token=roomkey_tokens.make("alice")
    )
    assert alice.socket_id.count(".") == 1
    await alice.subscribe("private-user-alice")
    await publish(roomkey_server, "private-user-alice", "greeting", {"text": "hi"})
    event = await alice.next_event("private-user-alice", "greeting")
    assert event.data == {"text": "hi"}
    bob = await roomkey_clients.connect(
        roomkey_server, roomkey_transport, token=roomkey_tokens.make("bob")
    )
    with pytest.raises(Refused) as refused:
        await bob.subscribe("private-user-alice")
    assert (refused.value.stage, refused.value.status) == ("authorize", 403)
    await bob.assert_no_event("private-user-alice")


async def test_a_logged_in_user_is_identified_by_the_session_cookie(
    roomkey_server: TestServer, roomkey_clients: Clients, roomkey_transport: str
) -> None:
    carol = await roomkey_clients.connect(roomkey_server, roomkey_transport, user="carol")
    joined = await carol.subscribe("presence-room", authorize=False)
    assert joined.presence is not None and joined.presence["ids"] == ["carol"]
    anonymous = await roomkey_clients.connect(roomkey_server, roomkey_transport)
    with pytest.raises(Refused) as refused:
        await anonymous.subscribe("private-user-carol")
    assert refused.value.status == 401


async def test_presence_members_and_client_events(
    roomkey_server: TestServer,
    roomkey_clients: Clients,
    roomkey_tokens: TokenFactory,
    roomkey_transport: str,
) -> None:
    dave = await roomkey_clients.connect(
        roomkey_server, roomkey_transport, token=roomkey_tokens.make("dave", name="Dave")
    )
    erin = await roomkey_clients.connect(
        roomkey_server, roomkey_transport, token=roomkey_tokens.make("erin", name="Erin")
    )
    await dave.subscribe("presence-room")
    joined = await erin.subscribe("presence-room")
    assert joined.presence is not None and sorted(joined.presence["ids"]) == ["dave", "erin"]
    added = await dave.next_event("presence-room", MEMBER_ADDED)
    assert added.data == {"user_id": "erin", "user_info": {"name": "Erin"}}
    await erin.trigger("presence-room", "client-typing", {"on": True})
    typed = await dave.next_event("presence-room", "client-typing")
    assert (typed.data, typed.user_id) == ({"on": True}, "erin")
    await erin.assert_no_event("presence-room", "client-typing")
    await erin.close()
    removed = await dave.next_event("presence-room", MEMBER_REMOVED)
    assert removed.user_id == "erin"


async def test_an_unknown_key_is_refused_at_connect(
    roomkey_server: TestServer, roomkey_transport: str
) -> None:
    async with open_client(roomkey_server, roomkey_transport) as client:
        client.key = "no-such-key"
        with pytest.raises(Refused) as refused:
            await client.connect()
    assert refused.value.stage == "connect"
    assert refused.value.code == 4001


async def test_next_event_fails_naming_what_it_waited_for(
    roomkey_server: TestServer, roomkey_clients: Clients
) -> None:
    client = await roomkey_clients.connect(roomkey_server)
    await client.subscribe("news")
    await publish(roomkey_server, "news", "other", "x")
    with pytest.raises(AssertionError, match=r"no 'wanted' on 'news'.*unread"):
        await client.next_event("news", "wanted", timeout=0.2)
