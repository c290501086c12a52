"""The hardening mechanisms on the Pusher transport (``GET /app/{key}``), through a raw
Pusher-protocol socket: origins, the connection rate per client address, the authorization
deadline, the subscribe rate, slow consumers, and the metrics and log lines of every socket."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import pytest

from roomkey.app import PUSHER
from roomkey.config import Limits, PerformanceSettings, RateLimits, Settings
from tests.support.apps import APP_ID, make_settings
from tests.support.metrics import sample
from tests.support.pusher import RawPusherFactory, channel_auth, user_auth
from tests.support.servers import Server, StartServer
from tests.support.waiting import wait_for_condition


def with_rates(settings: Settings, **rates: int) -> Settings:
    return replace(settings, rate_limits=replace(RateLimits(), **rates))


def metrics(server: Server) -> str:
    return server.runtime.metrics.render().decode()


def lines(caplog: pytest.LogCaptureFixture, start: str) -> list[dict[str, str]]:
    """The structured fields of roomkey's log lines whose message starts with ``start``."""
    return [
        {"msg": r.getMessage(), **getattr(r, "roomkey_fields", {})}
        for r in caplog.records
        if r.getMessage().startswith(start)
    ]


async def refused_with(
    raw_pusher: RawPusherFactory, server: Server, **kw: Any
) -> dict[str, object]:
    """Open a socket that the server must refuse: its ``pusher:error`` data (the close code
    is checked to be the same)."""
    client = await raw_pusher(server, **kw)
    error = await client.next()
    assert error["event"] == "pusher:error", error
    data = error["data"]
    assert isinstance(data, dict)
    assert await client.closed_with() == data["code"]
    return data


async def test_foreign_origin_is_refused_before_any_state(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    settings = make_settings(server={"allowed_origins": ("https://*.example.com",)})
    server = await start_server(with_rates(settings, connections_per_minute_per_address=1))
    rt = server.runtime
    for origin in ("https://evil.test", "https://example.com.evil.test", "http://[::1"):
        error = await refused_with(raw_pusher, server, headers={"Origin": origin})
        assert error == {"code": 4009, "message": "origin is not allowed"}
    assert rt.hub.connections == {}
    assert server.app[PUSHER]._conns == set()
    # The refused sockets spent nothing: the one connection this address may open per minute
    # is still there for an allowed page, and only then is the next one refused.
    allowed = await raw_pusher.established(server, headers={"Origin": "https://app.example.com"})
    assert list(rt.hub.connections) == [allowed.socket_id]
    over = await refused_with(raw_pusher, server, headers={"Origin": "https://app.example.com"})
    assert over["code"] == 4100
    text = metrics(server)
    assert sample(text, "roomkey_refusals_total", what="pusher connect", reason="origin") == 3
    assert (
        sample(text, "roomkey_rate_limited_total", limit="connections_per_minute_per_address") == 1
    )


async def test_same_origin_only_by_default(server: Server, raw_pusher: RawPusherFactory) -> None:
    error = await refused_with(raw_pusher, server, headers={"Origin": "https://evil.test"})
    assert error["code"] == 4009
    same = await raw_pusher.established(server, headers={"Origin": server.url})
    no_origin = await raw_pusher.established(server)  # not a browser: no Origin header
    assert set(server.runtime.hub.connections) == {same.socket_id, no_origin.socket_id}


async def test_new_connections_per_client_address_are_rate_limited_with_4100(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    settings = make_settings(server={"trusted_proxies": ("127.0.0.1",)})
    server = await start_server(with_rates(settings, connections_per_minute_per_address=2))
    rt = server.runtime
    behind = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}
    first = await raw_pusher.established(server, headers=behind)
    second = await raw_pusher.established(server, headers=behind)
    error = await refused_with(raw_pusher, server, headers=behind)
    assert error["code"] == 4100
    assert "connections_per_minute_per_address" in str(error["message"])
    # Another client behind the same proxy has its own budget.
    other = await raw_pusher.established(server, headers={"X-Forwarded-For": "203.0.113.6"})
    addresses = {c.socket_id: c.address for c in rt.hub.connections.values()}
    assert addresses[first.socket_id] == addresses[second.socket_id] == "203.0.113.5"
    assert addresses[other.socket_id] == "203.0.113.6"
    assert len(addresses) == 3
    # The refused socket was never registered anywhere.
    assert len(server.app[PUSHER]._conns) == 3
    assert rt.hub.connection_count(APP_ID) == 3


async def test_authorized_connections_timeout_closes_idle_sockets_with_4009(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    server = await start_server(make_settings(authorized_connections_timeout=0.4))
    rt = server.runtime
    idle = await raw_pusher.established(server)
    await idle.subscribe("public-news")
    private = await raw_pusher.established(server)
    body = await channel_auth(server, private.socket_id, "private-user-7", "7")
    joined = await private.subscribe("private-user-7", auth=body["auth"])
    assert joined["event"] == "pusher_internal:subscription_succeeded"
    signed = await raw_pusher.established(server)
    await signed.send("pusher:signin", await user_auth(server, signed.socket_id, "8"))
    assert (await signed.next())["event"] == "pusher:signin_success"

    error = await idle.next_event("pusher:error")
    assert error["data"] == {
        "code": 4009,
        "message": "connection not authorized within 0.4 seconds",
    }
    assert await idle.closed_with() == 4009
    await wait_for_condition(lambda: idle.socket_id not in rt.hub.connections, "idle socket gone")
    assert set(rt.hub.connections) == {private.socket_id, signed.socket_id}
    for client in (private, signed):
        await client.send("pusher:ping", {})
        assert (await client.next_event("pusher:pong"))["event"] == "pusher:pong"
    # The other deadlines fired too, found their sockets authorized, and left nothing behind.
    await wait_for_condition(lambda: len(rt.deadlines) == 0, "deadlines done")
    assert set(rt.hub.connections) == {private.socket_id, signed.socket_id}
    assert sample(metrics(server), "roomkey_authorization_timeouts_total", app=APP_ID) == 1


async def test_a_socket_that_leaves_early_cancels_its_deadline(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    server = await start_server(make_settings(authorized_connections_timeout=30))
    rt = server.runtime
    client = await raw_pusher.established(server)
    assert len(rt.deadlines) == 1
    await client.ws.close()
    await wait_for_condition(lambda: len(rt.deadlines) == 0, "deadline cancelled")
    assert rt.hub.connections == {}


async def test_subscribes_per_connection_are_rate_limited(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    server = await start_server(with_rates(make_settings(), subscribes_per_minute_per_connection=2))
    rt = server.runtime
    client = await raw_pusher.established(server)
    for channel in ("public-a", "public-b"):
        ok = await client.subscribe(channel)
        assert ok["event"] == "pusher_internal:subscription_succeeded"
    refused = await client.subscribe("public-c")
    assert refused["event"] == "pusher:subscription_error"
    assert refused["data"]["type"] == "LimitReached"
    assert refused["data"]["code"] == 4100
    assert "subscribes_per_minute_per_connection" in refused["data"]["message"]
    error = await client.next()
    assert error["event"] == "pusher:error" and error["data"]["code"] == 4100
    # Nothing else changed: the socket is open and holds exactly the two channels.
    conn = rt.hub.connections[client.socket_id]
    assert set(conn.channels) == {"public-a", "public-b"}
    await client.send("pusher:ping", {})
    assert (await client.next())["event"] == "pusher:pong"
    # Another socket has its own budget.
    other = await raw_pusher.established(server)
    assert (await other.subscribe("public-c"))["event"] == (
        "pusher_internal:subscription_succeeded"
    )
    assert (
        sample(
            metrics(server),
            "roomkey_rate_limited_total",
            limit="subscribes_per_minute_per_connection",
        )
        == 1
    )


async def test_slow_consumer_is_counted_and_logged(
    start_server: StartServer, raw_pusher: RawPusherFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roomkey")
    limits = replace(Limits(), max_outbound_buffer_bytes=2000)
    # Every delivery queued for the writer: with direct writes the kernel would take this
    # burst (tests/test_pusher_direct_writes.py covers a client that really stops reading).
    settings = replace(
        make_settings(limits=limits), performance=PerformanceSettings(direct_writes=False)
    )
    server = await start_server(settings)
    rt = server.runtime
    client = await raw_pusher.established(server)
    await client.subscribe("news")
    # The memory broker delivers synchronously: the writer gets no turn during this burst.
    for i in range(20):
        await rt.hub.publish(rt.apps.default, ["news"], "burst", f"{i:04d}" + "x" * 200)
    error = await client.next_event("pusher:error")
    assert error["data"]["code"] == 4100
    assert "max_outbound_buffer_bytes (2000)" in error["data"]["message"]
    assert await client.closed_with() == 4100
    await wait_for_condition(lambda: rt.hub.connections == {}, "slow socket gone")
    text = metrics(server)
    assert sample(text, "roomkey_slow_consumer_disconnects_total", transport="pusher") == 1
    assert sample(text, "roomkey_refusals_total", what="delivery", reason="slow_consumer") == 1
    refusals = lines(caplog, "refused delivery")
    assert len(refusals) == 1
    assert refusals[0]["socket_id"] == client.socket_id
    assert refusals[0]["reason"] == "slow_consumer" and refusals[0]["code"] == "4100"


async def test_frames_are_counted_by_type_and_sockets_logged(
    server: Server, raw_pusher: RawPusherFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roomkey")
    rt = server.runtime
    client = await raw_pusher.established(server)
    await client.send("pusher:ping", {})
    await client.next_event("pusher:pong")
    body = await channel_auth(server, client.socket_id, "private-room", "7")
    await client.subscribe("private-room", auth=body["auth"])
    await client.send("client-hello", {"x": 1}, channel="private-room")
    await client.send("client-again", {"x": 2}, channel="private-room")
    await client.send("pusher:unsubscribe", {"channel": "private-room"})
    await client.send("pusher:bogus", {})
    await client.next_event("pusher:error")
    await client.ws.send_str("{not json")
    await client.next_event("pusher:error")
    await client.ws.send_str(json.dumps({"event": "client-big", "data": "x" * 70_000}))
    await client.next_event("pusher:error")
    text = metrics(server)
    counts = {
        kind: sample(text, "roomkey_messages_received_total", transport="pusher", type=kind)
        for kind in (
            "ping",
            "subscribe",
            "trigger",
            "unsubscribe",
            "unknown event",
            "invalid frame",
        )
    }
    assert counts == {
        "ping": 1,
        "subscribe": 1,
        "trigger": 2,
        "unsubscribe": 1,
        "unknown event": 1,
        "invalid frame": 2,
    }
    assert sample(text, "roomkey_connections", app=APP_ID, transport="pusher") == 1
    assert sample(text, "roomkey_connections_opened_total", app=APP_ID, transport="pusher") == 1

    await client.ws.close()
    await wait_for_condition(lambda: rt.hub.connections == {}, "socket gone")
    await wait_for_condition(lambda: lines(caplog, "connection close"), "close line")
    for what in ("connection open", "connection close"):
        (line,) = lines(caplog, what)
        assert line["socket_id"] == client.socket_id
        assert line["transport"] == "pusher" and line["app"] == APP_ID
        assert line["address"] == "127.0.0.1"
    assert sample(metrics(server), "roomkey_connections", app=APP_ID, transport="pusher") is None
