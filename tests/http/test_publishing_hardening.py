"""The hardening mechanisms on the publishing side: the REST rate per app (429 with
``Retry-After``) and ``roomkey_rest_requests_total`` for every answer, through hand-signed
requests and the official Python SDK; webhook queue depth, retries and drops, through a real
HTTP target."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import aiohttp
import pusher
import pytest

from roomkey.config import RateLimits, Settings, WebhookSettings, WebhookTarget
from roomkey.metrics import Metrics
from roomkey.webhooks import WebhookDispatcher
from tests.support.apps import APP_ID, OTHER_APP, make_settings
from tests.support.metrics import sample, scrape
from tests.support.rest import call_sdk, join, sdk, sign
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition
from tests.support.webhooks import webhook_target

CHANNELS = "/apps/{app_id}/channels"


async def rest_get(server: Server, path: str, **sign_kw: Any) -> aiohttp.ClientResponse:
    """A signed GET; the response (body already read)."""
    query = sign("GET", path, **sign_kw)
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}{path}?{qs}") as resp:
        await resp.read()
        return resp


def rest_limited(per_second: int) -> Settings:
    return replace(
        make_settings(), rate_limits=replace(RateLimits(), rest_per_second_per_app=per_second)
    )


async def test_rest_calls_per_app_are_rate_limited_with_retry_after(
    start_server: StartServer,
) -> None:
    server = await start_server(rest_limited(2))
    path = f"/apps/{APP_ID}/channels"
    # Requests that fail the signature check never spend the app's budget.
    for _ in range(3):
        forged = await rest_get(server, path, secret="not-the-secret")
        assert forged.status == 401
    statuses = [(await rest_get(server, path)).status for _ in range(2)]
    assert statuses == [200, 200]
    refused = await rest_get(server, path)
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) >= 1
    # The budget is per app.
    other = await rest_get(
        server, f"/apps/{OTHER_APP.id}/channels", key=OTHER_APP.key, secret=OTHER_APP.secret
    )
    assert other.status == 200
    text = await scrape(server)
    assert sample(text, "roomkey_rest_requests_total", route=CHANNELS, status="200") == 3
    assert sample(text, "roomkey_rest_requests_total", route=CHANNELS, status="401") == 3
    assert sample(text, "roomkey_rest_requests_total", route=CHANNELS, status="429") == 1
    assert sample(text, "roomkey_rate_limited_total", limit="rest_per_second_per_app") == 1


async def test_the_sdk_sees_429_and_its_publish_is_not_delivered(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(rest_limited(1))
    client = await connect(server)
    await client.subscribe("public-news")
    publisher = sdk(server)
    await call_sdk(publisher.trigger, "public-news", "first", "one")
    assert (await client.next("event"))["data"] == "one"
    with pytest.raises(pusher.errors.PusherBadStatus, match=r"^429: "):
        await call_sdk(publisher.trigger, "public-news", "second", "two")
    await client.nothing("event", within=0.2)
    text = await scrape(server)
    events = "/apps/{app_id}/events"
    assert sample(text, "roomkey_rest_requests_total", route=events, status="200") == 1
    assert sample(text, "roomkey_rest_requests_total", route=events, status="429") == 1


async def test_every_rest_answer_is_counted_by_route_template(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        # Wrong method: 405, counted under the route's template.
        async with http.get(f"{server.url}/apps/{APP_ID}/events") as resp:
            assert resp.status == 405
        # Malformed JSON: 400.
        body = b"{nope"
        query = sign("POST", f"/apps/{APP_ID}/events", body)
        qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        async with http.post(
            f"{server.url}/apps/{APP_ID}/events?{qs}",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400
    channel = await rest_get(server, f"/apps/{APP_ID}/channels/presence-room")
    assert channel.status == 200
    users = await rest_get(server, f"/apps/{APP_ID}/channels/presence-room/users")
    assert users.status == 200
    # The Python SDK's own route for terminating a user (no /apps/{id} prefix).
    await call_sdk(sdk(server).terminate_user_connections, "u1")
    text = await scrape(server)
    expected = {
        ("/apps/{app_id}/events", "405"): 1,
        ("/apps/{app_id}/events", "400"): 1,
        ("/apps/{app_id}/channels/{channel_name}", "200"): 1,
        ("/apps/{app_id}/channels/{channel_name}/users", "200"): 1,
        ("/users/{user_id}/terminate_connections", "200"): 1,
    }
    for (route, status), count in expected.items():
        assert sample(text, "roomkey_rest_requests_total", route=route, status=status) == count
    # Raw paths (channel names, user ids) never become label values.
    assert "presence-room" not in text and "/users/u1/" not in text


def hooked(url: str, **webhooks: Any) -> Settings:
    tuned = {"batch_ms": 20, "max_backoff_seconds": 0.02, **webhooks}
    return replace(make_settings(webhooks=(WebhookTarget(url),)), webhooks=WebhookSettings(**tuned))


async def test_webhook_retries_are_counted(
    start_server: StartServer, connect: ConnectClient
) -> None:
    async with webhook_target(statuses=[500, 503]) as target:
        server = await start_server(hooked(target.url(), retry_for_seconds=5.0))
        client = await connect(server)
        await client.subscribe("public-hooked")
        bodies = [await asyncio.wait_for(target.bodies.get(), 5) for _ in range(3)]
        # The same signed batch, sent three times.
        assert len(set(bodies)) == 1
        assert json.loads(bodies[0])["events"] == [
            {"name": "channel_occupied", "channel": "public-hooked"}
        ]
        text = await scrape(server)
    assert sample(text, "roomkey_webhook_retries_total") == 2
    assert sample(text, "roomkey_webhook_drops_total") is None
    assert sample(text, "roomkey_webhook_queue_depth") == 0


async def test_a_batch_given_up_counts_each_of_its_events_as_dropped(
    start_server: StartServer, connect: ConnectClient
) -> None:
    async with webhook_target(always=500) as target:
        server = await start_server(hooked(target.url(), retry_for_seconds=0.2, batch_ms=50))
        client = await connect(server)
        # One join, two events in one batch: channel_occupied and member_added.
        await join(client, server, "presence-hooked", "u1")
        dispatcher = server.runtime.hub.webhooks
        assert isinstance(dispatcher, WebhookDispatcher)
        await wait_for_condition(lambda: dispatcher.failed >= 1, "batch given up")
        text = await scrape(server)
    assert dispatcher.failed == 1
    assert sample(text, "roomkey_webhook_drops_total", cause="retries_exhausted") == 2
    retries = sample(text, "roomkey_webhook_retries_total")
    assert retries is not None and retries == target.requests - 1


def test_queue_depth_and_queue_full_drops() -> None:
    metrics = Metrics()
    app = make_settings(webhooks=(WebhookTarget("http://127.0.0.1:1/hook"),)).apps[0]
    dispatcher = WebhookDispatcher(WebhookSettings(queue_size=3), metrics=metrics)
    for i in range(5):  # not started: nothing drains the queue
        dispatcher.emit(app, {"name": "channel_occupied", "channel": f"c{i}"})
    text = metrics.render().decode()
    assert sample(text, "roomkey_webhook_queue_depth") == 3
    assert sample(text, "roomkey_webhook_drops_total", cause="queue_full") == 2
