"""Subscribing over Socket.IO: signatures, and bad requests that change nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from roomkey.config import Limits
from roomkey.core.signing import sign_channel
from tests.support.apps import APP_SECRET, OTHER_APP, make_settings
from tests.support.authorize import authorized
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient
from tests.support.waiting import wait_for_condition

HOME = "private-user-7"


async def home_client(server: Server, connect: ConnectClient) -> SioClient:
    """A connection without identity, subscribed to HOME with the endpoint's signature."""
    client = await connect(server)
    body = await authorized(server, client.socket_id, HOME)
    assert await client.subscribe(HOME, auth=body["auth"]) == {"channel": HOME}
    return client


async def assert_unchanged(server: Server, client: SioClient, channels: set[str]) -> None:
    """Still connected, subscribed to exactly ``channels``, still receiving publishes."""
    assert client.client.connected
    conn = server.runtime.hub.connections[client.socket_id]
    assert set(conn.channels) == channels
    assert not conn.pending
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, [HOME], "still-here", "yes")
    assert await client.next("event") == {"channel": HOME, "event": "still-here", "data": "yes"}


Payload = Callable[[str], Any]


def _sig(
    channel: str, data: str | None = None, key: str = "test-key", secret: str = APP_SECRET
) -> Payload:
    return lambda sid: sign_channel(key, secret, sid, channel, data)


PRESENCE_DATA = '{"user_id":"7","user_info":{"name":"Ada"}}'

BAD_SUBSCRIBES: list[tuple[str, Payload, int, str]] = [
    ("charset", lambda sid: {"channel": "private-a b"}, 4300, "channel may only contain"),
    ("slash", lambda sid: {"channel": "../private"}, 4300, "channel may only contain"),
    ("length 165", lambda sid: {"channel": "a" * 165}, 4300, "longer than 164"),
    ("empty", lambda sid: {"channel": ""}, 4300, "must not be empty"),
    ("number", lambda sid: {"channel": 5}, 4300, "channel must be a string"),
    ("missing", lambda sid: {}, 4300, "channel must be a string"),
    ("string payload", lambda sid: "private-a", 4300, "subscribe payload must be an object"),
    ("list payload", lambda sid: ["private-a"], 4300, "subscribe payload must be an object"),
    ("no payload", lambda sid: None, 4300, "subscribe payload must be an object"),
    (
        "auth not a string",
        lambda sid: {"channel": "private-a", "auth": 1},
        4300,
        "auth must be a string",
    ),
    ("no auth", lambda sid: {"channel": "private-a"}, 4009, "auth is required"),
    ("presence no auth", lambda sid: {"channel": "presence-a"}, 4009, "auth is required"),
    (
        "garbled auth",
        lambda sid: {"channel": "private-a", "auth": "garbage"},
        4009,
        "invalid signature",
    ),
    ("empty auth", lambda sid: {"channel": "private-a", "auth": ""}, 4009, "invalid signature"),
    (
        "short auth",
        lambda sid: {"channel": "private-a", "auth": _sig("private-a")(sid)[:-2]},
        4009,
        "invalid signature",
    ),
    (
        "another socket id",
        lambda sid: {"channel": "private-a", "auth": _sig("private-a")("1." + sid.split(".")[1])},
        4009,
        "invalid signature",
    ),
    (
        "another channel",
        lambda sid: {"channel": "private-a", "auth": _sig("private-b")(sid)},
        4009,
        "invalid signature",
    ),
    (
        "another app's key",
        lambda sid: {
            "channel": "private-a",
            "auth": _sig("private-a", key=OTHER_APP.key, secret=OTHER_APP.secret)(sid),
        },
        4009,
        "invalid signature",
    ),
    (
        "this app's key, another app's secret",
        lambda sid: {
            "channel": "private-a",
            "auth": _sig("private-a", secret=OTHER_APP.secret)(sid),
        },
        4009,
        "invalid signature",
    ),
    (
        "channel_data altered by one byte",
        lambda sid: {
            "channel": "presence-a",
            "auth": _sig("presence-a", PRESENCE_DATA)(sid),
            "channel_data": PRESENCE_DATA.replace('"7"', '"8"'),
        },
        4009,
        "invalid signature",
    ),
    (
        "channel_data re-serialised",
        lambda sid: {
            "channel": "presence-a",
            "auth": _sig("presence-a", PRESENCE_DATA)(sid),
            "channel_data": json.dumps(json.loads(PRESENCE_DATA)),
        },
        4009,
        "invalid signature",
    ),
    (
        "presence without channel_data",
        lambda sid: {"channel": "presence-a", "auth": _sig("presence-a", PRESENCE_DATA)(sid)},
        4300,
        "channel_data is required",
    ),
    (
        "signed channel_data that is not an object",
        lambda sid: {
            "channel": "presence-a",
            "auth": _sig("presence-a", "[1]")(sid),
            "channel_data": "[1]",
        },
        4300,
        "channel_data must be a JSON object",
    ),
    (
        "signed channel_data without user_id",
        lambda sid: {
            "channel": "presence-a",
            "auth": _sig("presence-a", '{"user_info":{}}')(sid),
            "channel_data": '{"user_info":{}}',
        },
        4300,
        "channel_data.user_id",
    ),
    (
        "another user's #server-to-user channel",
        lambda sid: {"channel": "#server-to-user-7"},
        4009,
        "signed-in user",
    ),
]


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [pytest.param(p, c, m, id=i) for i, p, c, m in BAD_SUBSCRIBES],
)
async def test_bad_subscribe_is_answered_and_changes_nothing(
    server: Server, connect: ConnectClient, payload: Payload, code: int, message: str
) -> None:
    client = await home_client(server, connect)
    answer = await client.call("subscribe", payload(client.socket_id))
    assert answer["error"]["code"] == code, answer
    assert message in answer["error"]["message"], answer
    await assert_unchanged(server, client, {HOME})
    assert server.runtime.hub.local_subscribers("101", "presence-a") == 0
    assert await server.runtime.hub.presence.members("101", "presence-a") == {}


async def test_duplicate_subscribe_is_refused_and_changes_nothing(
    server: Server, connect: ConnectClient
) -> None:
    client = await home_client(server, connect)
    body = await authorized(server, client.socket_id, HOME)
    answer = await client.subscribe(HOME, auth=body["auth"])
    assert answer["error"] == {"code": 4300, "message": f"already subscribed to {HOME}"}
    await assert_unchanged(server, client, {HOME})
    # Delivered once, not twice.
    await client.nothing("event", within=0.2)
    assert server.runtime.hub.local_subscribers("101", HOME) == 1


async def test_unsubscribe_of_a_channel_not_subscribed(
    server: Server, connect: ConnectClient
) -> None:
    client = await home_client(server, connect)
    answer = await client.call("unsubscribe", {"channel": "private-other"})
    assert answer["error"] == {"code": 4300, "message": "not subscribed to private-other"}
    await assert_unchanged(server, client, {HOME})
    for bad in ("nope", {"channel": 3}, {"channel": "a b"}):
        answer = await client.call("unsubscribe", bad)
        assert answer["error"]["code"] == 4300
    await assert_unchanged(server, client, {HOME})


async def test_unknown_event_is_answered(server: Server, connect: ConnectClient) -> None:
    client = await home_client(server, connect)
    answer = await client.call("join", {"channel": "x"})
    assert answer["error"]["code"] == 4300
    assert "unknown event" in answer["error"]["message"]
    await assert_unchanged(server, client, {HOME})


async def test_public_private_and_unsubscribe(server: Server, connect: ConnectClient) -> None:
    client = await home_client(server, connect)
    assert await client.subscribe("news") == {"channel": "news"}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["news"], "n", {"a": 1})
    assert await client.next("event") == {"channel": "news", "event": "n", "data": {"a": 1}}
    assert await client.call("unsubscribe", {"channel": "news"}) == {"channel": "news"}
    await rt.hub.publish(rt.apps.default, ["news"], "n", "after")
    await client.nothing("event", within=0.2)
    assert rt.hub.local_subscribers("101", "news") == 0
    await assert_unchanged(server, client, {HOME})


async def test_disconnect_cleans_up(server: Server, connect: ConnectClient) -> None:
    client = await home_client(server, connect)
    assert await client.subscribe("news") == {"channel": "news"}
    rt = server.runtime
    await client.client.disconnect()
    await wait_for_condition(lambda: client.socket_id not in rt.hub.connections, "the socket gone")
    assert client.socket_id not in rt.hub.connections
    assert rt.hub.local_subscribers("101", "news") == 0
    assert rt.hub.local_subscribers("101", HOME) == 0
    assert await rt.hub.presence.subscriber_count("101", HOME) == 0


async def test_encrypted_channel_with_signature(server: Server, connect: ConnectClient) -> None:
    client = await connect(server)
    body = await authorized(server, client.socket_id, "private-encrypted-user-7")
    assert "shared_secret" in body
    assert await client.subscribe("private-encrypted-user-7", auth=body["auth"]) == {
        "channel": "private-encrypted-user-7"
    }


async def test_over_the_channel_limit_changes_nothing(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(limits=Limits(max_channels_per_connection=2)))
    client = await home_client(server, connect)
    assert await client.subscribe("news") == {"channel": "news"}
    answer = await client.subscribe("sport")
    assert answer["error"] == {
        "code": 4100,
        "message": "over the limit of 2 channels per connection",
    }
    await assert_unchanged(server, client, {HOME, "news"})


async def test_oversized_presence_member_is_refused(server: Server, connect: ConnectClient) -> None:
    client = await home_client(server, connect)
    for data, code, message in (
        ('{"user_id":"' + "u" * 129 + '"}', 4100, "user_id is longer than 128"),
        ('{"user_id":"u","user_info":"' + "i" * 1100 + '"}', 4100, "user_info is larger than 1024"),
    ):
        auth = sign_channel("test-key", APP_SECRET, client.socket_id, "presence-a", data)
        answer = await client.subscribe("presence-a", auth=auth, channel_data=data)
        assert answer["error"]["code"] == code
        assert message in answer["error"]["message"]
    await assert_unchanged(server, client, {HOME})
    assert await server.runtime.hub.presence.members("101", "presence-a") == {}
