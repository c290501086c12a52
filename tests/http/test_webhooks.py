"""Webhooks as Pusher sends them, recorded by a real aiohttp receiver and verified with the
official Python SDK's ``validate_webhook``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import pusher
import pytest
from aiohttp import web

from roomkey.config import Settings, WebhookSettings, WebhookTarget
from roomkey.webhooks import WebhookDispatcher, backoff_delay
from tests.support.apps import APP_ID, APP_KEY, APP_SECRET, make_settings
from tests.support.node import start_node
from tests.support.paths import JS_DIR
from tests.support.rest import join
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(json.loads(self.body)["events"])


@dataclass
class Receiver:
    """Records every request; answers with ``statuses`` in turn (then 200)."""

    port: int = 0
    hooks: asyncio.Queue[Hook] = field(default_factory=asyncio.Queue)
    statuses: list[int] = field(default_factory=list)
    seen_paths: list[str] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        self.seen_paths.append(request.path)
        body = await request.read()
        await self.hooks.put(Hook(request.path, dict(request.headers), body))
        status = self.statuses.pop(0) if self.statuses else 200
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": self.url("/elsewhere")})
        return web.Response(status=status)

    async def next(self, timeout: float = 5.0) -> Hook:
        return await asyncio.wait_for(self.hooks.get(), timeout)

    async def events_until(self, wanted: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while len(events) < wanted:
            events.extend((await self.next(timeout)).events)
        return events


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = runner.addresses[0][1]
    yield rec
    await runner.cleanup()


def hook_settings(*targets: WebhookTarget, **webhooks: Any) -> Settings:
    base = make_settings(webhooks=targets)
    tuned = {
        "batch_ms": 30,
        "retry_for_seconds": 5.0,
        "max_backoff_seconds": 0.05,
        "leave_delay_seconds": 0.3,
        **webhooks,
    }
    return replace(base, webhooks=WebhookSettings(**tuned))


def verified(hook: Hook) -> dict[str, Any]:
    """What the SDK accepts; fails the test if the SDK rejects the signature."""
    assert hook.headers["X-Pusher-Key"] == APP_KEY
    assert hook.headers["Content-Type"] == "application/json"  # the Node SDK wants it exactly
    body = sdk_for_webhooks.validate_webhook(
        key=hook.headers["X-Pusher-Key"],
        signature=hook.headers["X-Pusher-Signature"],
        body=hook.body.decode(),
    )
    assert body is not None, "the Python SDK refused the webhook signature"
    return dict(body)


sdk_for_webhooks = pusher.Pusher(app_id=APP_ID, key=APP_KEY, secret=APP_SECRET)


async def test_channel_life_is_reported_and_signed(
    receiver: Receiver, start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(hook_settings(WebhookTarget(receiver.url())))
    a = await connect(server)
    await join(a, server, "presence-hooks", "u1")
    hook = await receiver.next()
    body = verified(hook)
    assert isinstance(body["time_ms"], int)
    # Emitted together, delivered in one batch.
    assert body["events"] == [
        {"name": "channel_occupied", "channel": "presence-hooks"},
        {"name": "member_added", "channel": "presence-hooks", "user_id": "u1"},
    ]
    await a.call("trigger", {"channel": "presence-hooks", "event": "client-ping", "data": {"a": 1}})
    client_event = verified(await receiver.next())["events"]
    assert client_event == [
        {
            "name": "client_event",
            "channel": "presence-hooks",
            "event": "client-ping",
            "data": '{"a":1}',
            "socket_id": a.socket_id,
            "user_id": "u1",
        }
    ]
    await a.call("unsubscribe", {"channel": "presence-hooks"})
    events = await receiver.events_until(2)
    assert {"name": "channel_vacated", "channel": "presence-hooks"} in events
    assert {"name": "member_removed", "channel": "presence-hooks", "user_id": "u1"} in events


async def test_a_forged_body_does_not_validate(
    receiver: Receiver, start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(hook_settings(WebhookTarget(receiver.url())))
    a = await connect(server)
    await a.subscribe("public-x")
    hook = await receiver.next()
    forged = hook.body.replace(b"public-x", b"public-y")
    assert (
        sdk_for_webhooks.validate_webhook(
            key=APP_KEY, signature=hook.headers["X-Pusher-Signature"], body=forged.decode()
        )
        is None
    )


async def test_event_filters_per_target(
    receiver: Receiver, start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(
        hook_settings(
            WebhookTarget(receiver.url("/occupancy"), ("channel_occupied", "channel_vacated")),
            WebhookTarget(receiver.url("/members"), ("member_added", "member_removed")),
        )
    )
    a = await connect(server)
    await join(a, server, "presence-f", "u1")
    await a.subscribe("public-f")
    got: dict[str, list[str]] = {"/occupancy": [], "/members": []}
    for _ in range(20):
        if len(got["/occupancy"]) >= 2 and got["/members"]:
            break
        hook = await receiver.next()
        got[hook.path].extend(e["name"] for e in verified(hook)["events"])
    assert sorted(got["/occupancy"]) == ["channel_occupied", "channel_occupied"]
    assert got["/members"] == ["member_added"]
    # No client_event target: the trigger is not queued at all.
    await a.call("trigger", {"channel": "presence-f", "event": "client-x", "data": 1})
    await asyncio.sleep(0.2)
    assert receiver.hooks.empty()


async def test_failed_deliveries_are_retried_with_the_same_signed_body(
    receiver: Receiver, start_server: StartServer, connect: ConnectClient
) -> None:
    receiver.statuses = [500, 503]
    server = await start_server(hook_settings(WebhookTarget(receiver.url())))
    a = await connect(server)
    await a.subscribe("public-retry")
    attempts = [await receiver.next() for _ in range(3)]
    assert len({h.body for h in attempts}) == 1
    assert verified(attempts[-1])["events"] == [
        {"name": "channel_occupied", "channel": "public-retry"}
    ]
    dispatcher = server.runtime.hub.webhooks
    assert isinstance(dispatcher, WebhookDispatcher)
    await wait_for_condition(lambda: dispatcher.delivered, "the batch counted as delivered")
    assert (dispatcher.delivered, dispatcher.failed) == (1, 0)


async def test_redirects_are_not_followed_and_retries_stop(
    receiver: Receiver, start_server: StartServer, connect: ConnectClient
) -> None:
    receiver.statuses = [302] * 100
    server = await start_server(hook_settings(WebhookTarget(receiver.url()), retry_for_seconds=0.3))
    a = await connect(server)
    await a.subscribe("public-redirect")
    dispatcher = server.runtime.hub.webhooks
    assert isinstance(dispatcher, WebhookDispatcher)
    await wait_for_condition(lambda: dispatcher.failed, "the batch given up")
    assert dispatcher.failed == 1
    assert dispatcher.delivered == 0
    assert "/elsewhere" not in receiver.seen_paths
    assert receiver.seen_paths and set(receiver.seen_paths) == {"/hook"}


async def test_a_full_queue_drops_counts_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    app = make_settings(webhooks=(WebhookTarget("http://127.0.0.1:1/hook"),)).apps[0]
    quiet = make_settings().apps[0]
    dispatcher = WebhookDispatcher(WebhookSettings(queue_size=2))  # not started: nothing drains
    caplog.set_level(logging.WARNING, logger="roomkey.webhooks")
    for i in range(5):
        dispatcher.emit(app, {"name": "channel_occupied", "channel": f"c{i}"})
    dispatcher.emit(quiet, {"name": "channel_occupied", "channel": "no-target"})
    assert dispatcher.dropped == 3
    warnings = [r for r in caplog.records if r.name == "roomkey.webhooks"]
    assert len(warnings) == 1
    assert "dropping" in warnings[0].getMessage()


def test_backoff_is_capped_and_jittered() -> None:
    assert backoff_delay(1, 10.0, rng=lambda: 1.0) == 0.5
    assert backoff_delay(3, 10.0, rng=lambda: 1.0) == 2.0
    assert backoff_delay(40, 10.0, rng=lambda: 1.0) == 10.0
    assert backoff_delay(40, 10.0, rng=lambda: 0.0) == pytest.approx(1.0)


NODE_DIR = JS_DIR


async def node_validate(hook: Hook, body: bytes | None = None) -> dict[str, Any]:
    opts = {
        "appId": APP_ID,
        "key": APP_KEY,
        "secret": APP_SECRET,
        "headers": {k.lower(): v for k, v in hook.headers.items()},
        "body": (hook.body if body is None else body).decode(),
    }
    proc = await start_node(str(NODE_DIR / "pusher_webhook.cjs"), stdin=True)
    try:
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(opts).encode()), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    return dict(json.loads(out))


@pytest.mark.node
async def test_the_node_sdk_validates_what_roomkey_sends(
    receiver: Receiver, start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(hook_settings(WebhookTarget(receiver.url())))
    a = await connect(server)
    await a.subscribe("public-node")
    hook = await receiver.next()
    checked = await node_validate(hook)
    assert checked == {
        "valid": True,
        "events": [{"name": "channel_occupied", "channel": "public-node"}],
    }
    forged = await node_validate(hook, hook.body.replace(b"public-node", b"public-evil"))
    assert forged["valid"] is False
