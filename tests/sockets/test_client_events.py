"""Client events over Socket.IO ``trigger``: delivered to the other subscribers only, with the
verified ``user_id`` on presence channels, and refused with 4301 for every reason."""

from __future__ import annotations

from dataclasses import replace

from roomkey.config import Limits
from tests.support.apps import make_settings, make_token
from tests.support.rest import join
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient


async def test_delivered_to_others_never_back_to_the_sender(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    c = await connect(server)
    for client in (a, b, c):
        await join(client, server, "private-room")
    ack = await a.call(
        "trigger", {"channel": "private-room", "event": "client-typing", "data": {"x": 1}}
    )
    assert ack == {}
    for other in (b, c):
        assert await other.next("event") == {
            "channel": "private-room",
            "event": "client-typing",
            "data": {"x": 1},
        }
    await a.nothing("event")


async def test_presence_user_id_comes_from_the_membership(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    await join(a, server, "presence-team", "alice")
    await join(b, server, "presence-team", "bob")
    await a.call(
        "trigger",
        {
            "channel": "presence-team",
            "event": "client-msg",
            "data": {"user_id": "bob", "text": "hi"},
            "user_id": "bob",
        },
    )
    got = await b.next("event")
    assert got["user_id"] == "alice"
    assert got["data"] == {"user_id": "bob", "text": "hi"}  # the payload is the sender's own
    # Private channels carry no user_id at all.
    await join(a, server, "private-pair")
    await join(b, server, "private-pair")
    await a.call("trigger", {"channel": "private-pair", "event": "client-x", "data": "d"})
    assert "user_id" not in await b.next("event")


async def _refused(client: SioClient, payload: dict[str, object]) -> str:
    answer = await client.call("trigger", payload)
    assert answer["error"]["code"] == 4301, answer
    return str(answer["error"]["message"])


async def test_refusals_are_4301_and_deliver_nothing(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server, token=make_token("7"))
    b = await connect(server, token=make_token("7"))
    for client in (a, b):
        await join(client, server, "private-room")
        await client.subscribe("public-square")
        assert (await client.subscribe("private-encrypted-user-7"))["channel"]

    message = await _refused(a, {"channel": "private-room", "event": "typing", "data": "x"})
    assert "client-" in message
    message = await _refused(a, {"channel": "public-square", "event": "client-x", "data": "x"})
    assert "private and presence" in message
    message = await _refused(
        a, {"channel": "private-encrypted-user-7", "event": "client-x", "data": "x"}
    )
    assert "encrypted" in message
    message = await _refused(a, {"channel": "private-elsewhere", "event": "client-x", "data": "x"})
    assert "not subscribed" in message
    message = await _refused(
        a, {"channel": "private-room", "event": "client-big", "data": "x" * (10 * 1024 + 1)}
    )
    assert "larger" in message
    await b.nothing("event")
    # The connection is still usable after every refusal.
    assert (
        await a.call("trigger", {"channel": "private-room", "event": "client-ok", "data": 1}) == {}
    )
    assert (await b.next("event"))["event"] == "client-ok"


async def test_disabled_for_the_app(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(make_settings(client_events=False))
    a = await connect(server)
    b = await connect(server)
    await join(a, server, "private-room")
    await join(b, server, "private-room")
    message = await _refused(a, {"channel": "private-room", "event": "client-x", "data": "x"})
    assert "not enabled" in message
    await b.nothing("event")


async def test_over_the_rate(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(make_settings(limits=replace(Limits(), client_events_per_second=2)))
    a = await connect(server)
    b = await connect(server)
    await join(a, server, "private-room")
    await join(b, server, "private-room")
    answers = [
        await a.call("trigger", {"channel": "private-room", "event": "client-n", "data": i})
        for i in range(12)
    ]
    accepted = [i for i, ans in enumerate(answers) if ans == {}]
    refused = [ans["error"] for ans in answers if ans != {}]
    assert refused, "a burst of 12 at 2 per second must be refused in part"
    assert all(e["code"] == 4301 and "rate" in e["message"] for e in refused)
    delivered = [(await b.next("event"))["data"] for _ in accepted]
    assert delivered == accepted
    await b.nothing("event")
