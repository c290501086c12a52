"""Every metric family operators are promised (docs/operations.md) is on ``GET /metrics``
after a little real traffic on both transports, the authorize endpoint, the REST API (the
official Python SDK) and a webhook target, and the counts match that traffic."""

from __future__ import annotations

import json
from dataclasses import replace

import aiohttp
import pytest

from roomkey.config import (
    Limits,
    PerformanceSettings,
    RateLimits,
    Settings,
    WebhookSettings,
    WebhookTarget,
)
from roomkey.webhooks import WebhookDispatcher
from tests.support.apps import APP_ID, make_settings, make_token
from tests.support.backends import redis_settings
from tests.support.metrics import families, sample, scrape
from tests.support.pusher import RawPusherFactory, channel_auth
from tests.support.redis_server import RedisServer
from tests.support.rest import call_sdk, sdk
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition
from tests.support.webhooks import webhook_target

PROMISED = {
    # connections by app and transport, subscriptions
    "roomkey_connections",
    "roomkey_connections_opened",
    "roomkey_subscriptions",
    # messages received and delivered, fan-out time
    "roomkey_messages_received",
    "roomkey_messages_delivered",
    "roomkey_fanout_seconds",
    # authorize results by reason, REST requests by route and status
    "roomkey_authorize_results",
    "roomkey_rest_requests",
    # rate-limit and quota refusals, slow consumers, authorization deadlines
    "roomkey_refusals",
    "roomkey_rate_limited",
    "roomkey_quota_refusals",
    "roomkey_rate_limiter_failures",
    "roomkey_slow_consumer_disconnects",
    "roomkey_authorization_timeouts",
    # webhook queue depth, retries, drops
    "roomkey_webhook_queue_depth",
    "roomkey_webhook_retries",
    "roomkey_webhook_drops",
    # broker reconnects and lag, event-loop lag
    "roomkey_broker_reconnects",
    "roomkey_broker_lag_seconds",
    "roomkey_event_loop_lag_seconds",
    "roomkey_event_loop_lag",
}


def settings_for(hook_url: str) -> Settings:
    base = make_settings(
        limits=replace(Limits(), max_outbound_buffer_bytes=8000),
        webhooks=(WebhookTarget(hook_url, event_types=("channel_occupied",)),),
    )
    return replace(
        base,
        rate_limits=replace(RateLimits(), subscribes_per_minute_per_connection=3),
        webhooks=WebhookSettings(batch_ms=20, max_backoff_seconds=0.02, retry_for_seconds=5.0),
        # The slow consumer below is a burst the writer gets no turn for: with direct writes
        # the kernel would take it (tests/test_pusher_direct_writes.py covers a real stall).
        performance=PerformanceSettings(direct_writes=False),
    )


async def test_every_promised_metric_after_real_traffic(
    start_server: StartServer, connect: ConnectClient, raw_pusher: RawPusherFactory
) -> None:
    async with webhook_target(statuses=[500]) as target:
        server = await start_server(settings_for(target.url()))
        rt = server.runtime

        # One Socket.IO and one Pusher socket on the same private channel.
        sio = await connect(server, token=make_token("7"))
        assert await sio.subscribe("private-user-7") == {"channel": "private-user-7"}
        pusher_client = await raw_pusher.established(server)
        body = await channel_auth(server, pusher_client.socket_id, "private-user-7", "7")
        joined = await pusher_client.subscribe("private-user-7", auth=body["auth"])
        assert joined["event"] == "pusher_internal:subscription_succeeded"
        async with aiohttp.ClientSession() as http:
            denied = await http.post(
                f"{server.url}/pusher/auth",
                data={"socket_id": sio.socket_id, "channel_name": "private-denied-x"},
                headers={"Authorization": f"Bearer {make_token('7')}"},
            )
            assert denied.status == 403

        # A publish from the Python SDK reaches both; the SDK also reads channel state.
        publisher = sdk(server)
        await call_sdk(publisher.trigger, "private-user-7", "news", "hello")
        assert (await sio.next("event"))["data"] == "hello"
        assert (await pusher_client.next_event("news"))["data"] == "hello"
        info = await call_sdk(publisher.channel_info, "private-user-7", ["subscription_count"])
        assert info["occupied"] is True

        # A rate-limit refusal (the fourth subscribe of one connection) and a size refusal.
        for channel in ("public-a", "public-b"):
            assert await sio.subscribe(channel) == {"channel": channel}
        over = await sio.subscribe("public-c")
        assert over["error"]["code"] == 4100
        await pusher_client.ws.send_str(json.dumps({"event": "client-x", "data": "x" * 70_000}))
        assert (await pusher_client.next_event("pusher:error"))["data"]["code"] == 4100

        # A Pusher client that never reads what a busy channel sends it.
        slow = await raw_pusher.established(server)
        await slow.subscribe("public-firehose")
        for i in range(20):
            await rt.hub.publish(rt.apps.default, ["public-firehose"], "tick", f"{i}" + "x" * 1000)
        assert await slow.closed_with() == 4100
        await wait_for_condition(lambda: len(rt.hub.connections) == 2, "slow socket gone")

        # The first webhook POST fails (500) and is retried.
        await wait_for_condition(lambda: target.requests >= 2, "webhook retried")
        # Later channel_occupied events may still wait for their batch on a busy machine.
        webhooks = rt.hub.webhooks
        assert isinstance(webhooks, WebhookDispatcher)
        await wait_for_condition(lambda: webhooks.queued == 0, "webhook queue drained")
        text = await scrape(server)

    missing = PROMISED - families(text)
    assert not missing, f"missing from /metrics: {sorted(missing)}"

    def value(name: str, **labels: str) -> float | None:
        return sample(text, name, **labels)

    assert value("roomkey_connections", app=APP_ID, transport="socketio") == 1
    assert value("roomkey_connections", app=APP_ID, transport="pusher") == 1
    assert value("roomkey_connections_opened_total", app=APP_ID, transport="pusher") == 2
    assert value("roomkey_connections_opened_total", app=APP_ID, transport="socketio") == 1
    # Socket.IO: private-user-7, public-a, public-b; Pusher: private-user-7.
    assert value("roomkey_subscriptions", app=APP_ID) == 4
    assert value("roomkey_messages_received_total", transport="socketio", type="subscribe") == 4
    assert value("roomkey_messages_received_total", transport="pusher", type="subscribe") == 2
    assert value("roomkey_messages_received_total", transport="pusher", type="invalid frame") == 1
    delivered = value("roomkey_messages_delivered_total", app=APP_ID)
    assert delivered is not None and delivered >= 2
    fanouts = value("roomkey_fanout_seconds_count")
    assert fanouts is not None and fanouts >= 21
    assert value("roomkey_authorize_results_total", endpoint="channel", result="ok") == 1
    assert value("roomkey_authorize_results_total", endpoint="channel", result="forbidden") == 1
    events, channel = "/apps/{app_id}/events", "/apps/{app_id}/channels/{channel_name}"
    assert value("roomkey_rest_requests_total", route=events, status="200") == 1
    assert value("roomkey_rest_requests_total", route=channel, status="200") == 1
    assert value("roomkey_rate_limited_total", limit="subscribes_per_minute_per_connection") == 1
    assert value("roomkey_quota_refusals_total", what="pusher frame", reason="too_large") == 1
    assert value("roomkey_slow_consumer_disconnects_total", transport="pusher") == 1
    retries = value("roomkey_webhook_retries_total")
    assert retries is not None and retries >= 1
    assert value("roomkey_webhook_queue_depth") == 0
    # One node with the memory broker: nothing crossed a broker, nothing reconnected.
    assert value("roomkey_broker_reconnects_total") == 0
    assert value("roomkey_broker_lag_seconds") == 0
    assert value("roomkey_broker_dropped_malformed_total") == 0
    assert value("roomkey_rate_limiter_failures_total") == 0
    assert value("roomkey_event_loop_lag_seconds") is not None


@pytest.mark.redis
async def test_redis_broker_reports_lag_and_reconnects(
    start_server: StartServer, redis_server: RedisServer
) -> None:
    """With Redis, the broker's self-ping measures a real lag, and killing the listener's
    connection shows up as a reconnect."""
    server = await start_server(replace(make_settings(), redis=redis_settings(redis_server.url)))
    await wait_for_condition(
        lambda: server.runtime.hub.broker.stats().lag_seconds is not None,
        "a broker lag measured",
        timeout=10,
    )
    text = await scrape(server)
    lag = [line for line in text.splitlines() if line.startswith("roomkey_broker_lag_seconds ")]
    assert lag and float(lag[0].split()[1]) >= 0.0
    redis_server.cli("CLIENT", "KILL", "TYPE", "pubsub")
    await wait_for_condition(
        lambda: server.runtime.hub.broker.stats().reconnects >= 1,
        "the broker to reconnect",
        timeout=10,
    )
    text = await scrape(server)
    counts = [
        line for line in text.splitlines() if line.startswith("roomkey_broker_reconnects_total ")
    ]
    assert counts and float(counts[0].split()[1]) >= 1
