"""The hub's publish: reaches exactly one channel's subscribers; ``exclude`` skips one socket."""

from __future__ import annotations

from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient


async def test_publish_reaches_only_that_channels_subscribers(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    outsider = await connect(server)
    for c in (a, b):
        assert await c.subscribe("room-1") == {"channel": "room-1"}
    assert await outsider.subscribe("room-2") == {"channel": "room-2"}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["room-1"], "e", '{"n":1}')
    expected = {"channel": "room-1", "event": "e", "data": '{"n":1}'}
    assert await a.next("event") == expected
    assert await b.next("event") == expected
    await outsider.nothing("event", within=0.2)


async def test_exclude_skips_one_socket(server: Server, connect: ConnectClient) -> None:
    a = await connect(server)
    b = await connect(server)
    for c in (a, b):
        await c.subscribe("room")
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["room"], "e", "x", exclude=a.socket_id)
    assert (await b.next("event"))["data"] == "x"
    await a.nothing("event", within=0.2)


async def test_publish_to_several_channels_and_other_apps(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    other_app = await connect(server, key="other-key")
    await a.subscribe("one")
    await a.subscribe("two")
    await other_app.subscribe("one")
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["one", "two"], "e", [1, 2])
    got = {(await a.next("event"))["channel"] for _ in range(2)}
    assert got == {"one", "two"}
    # Channels are scoped by app: the same name on another app hears nothing.
    await other_app.nothing("event", within=0.2)


async def test_data_is_delivered_exactly_as_published(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    await a.subscribe("room")
    rt = server.runtime
    for data in ('{"a": 1}', {"a": [1, "\u00e9"]}, "plain \u2603", 3, None):
        await rt.hub.publish(rt.apps.default, ["room"], "e", data)
        assert (await a.next("event"))["data"] == data
