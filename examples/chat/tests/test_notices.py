"""A logged-in user receives notices on their own private channel; nobody else may join it.
On every transport (``roomkey_transport``: Socket.IO polling then upgrade, Socket.IO
WebSocket only, the Pusher protocol)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer

from roomkey.testing import Clients, Refused


async def test_a_user_gets_their_notices_and_others_are_refused(
    chat: TestServer, roomkey_clients: Clients, roomkey_transport: str
) -> None:
    alice = roomkey_clients.open(chat, roomkey_transport)
    assert (await alice.post("/login", json={"user": "alice"})).status == 200
    await (await alice.connect()).subscribe("private-user-alice")
    await alice.post("/notify", json={"to": "alice", "text": "hello"})
    assert (await alice.next_event("private-user-alice", "notice")).data == {"text": "hello"}
    bob = await roomkey_clients.connect(chat, roomkey_transport, user="bob")
    with pytest.raises(Refused):
        await bob.subscribe("private-user-alice")


async def test_after_logout_the_endpoint_refuses(
    chat: TestServer, roomkey_clients: Clients
) -> None:
    carol = roomkey_clients.open(chat)
    await carol.post("/login", json={"user": "carol"})
    await carol.connect()
    await carol.post("/logout")
    with pytest.raises(Refused) as refused:
        await carol.subscribe("private-user-carol")
    assert refused.value.status == 401
