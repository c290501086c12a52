"""The webhook queue outlives a node: a roomkey process (``roomkey serve``) killed with
SIGKILL while it retries a webhook and holds a leave in its delay window; another process
over the same redis-server sends both."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from pathlib import Path

import pytest

from roomkey.redis_keys import RedisKeys
from tests.support.apps import APP_ID, APP_KEY, APP_SECRET
from tests.support.processes import RoomkeyProcess, start_roomkey
from tests.support.redis_server import RedisServer
from tests.support.servers import free_port
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition
from tests.support.webhooks import webhook_target

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CLAIM_SECONDS = 1.0


def node_config(workdir: Path, redis_url: str, prefix: str, hook_url: str) -> Path:
    path = workdir / "roomkey.toml"
    path.write_text(
        f"""
[server]
host = "127.0.0.1"
shutdown_timeout_seconds = 3

[redis]
url = "{redis_url}"
prefix = "{prefix}"
heartbeat_seconds = 0.3
node_timeout_seconds = 1.2
operation_timeout_seconds = 0.5

[webhooks]
batch_ms = 20
timeout_seconds = 1.0
max_backoff_seconds = 0.2
leave_delay_seconds = 1.0
claim_seconds = {CLAIM_SECONDS}

[[apps]]
id = "{APP_ID}"
key = "{APP_KEY}"
secret = "{APP_SECRET}"

[[apps.webhooks]]
url = "{hook_url}"
""",
        encoding="utf-8",
    )
    return path


async def start(workdir: Path, config: Path, name: str) -> RoomkeyProcess:
    return await asyncio.to_thread(start_roomkey, free_port(), workdir / f"{name}.log", config)


async def test_a_killed_nodes_queued_and_held_webhooks_are_sent_by_another(
    redis_server: RedisServer, connect: ConnectClient
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="roomkey-hooks-"))
    prefix = f"w{uuid.uuid4().hex[:10]}"
    held_key = RedisKeys(prefix).webhooks(APP_ID)[2]
    async with webhook_target(always=503) as target:
        config = node_config(workdir, redis_server.url, prefix, target.url())
        a = await start(workdir, config, "a")
        b: RoomkeyProcess | None = None
        try:
            client = await connect(a)
            await client.subscribe("public-retrying")
            await wait_for_condition(lambda: target.requests >= 1, "node a retrying a webhook")
            await client.subscribe("public-held")
            await client.call("unsubscribe", {"channel": "public-held"})
            await wait_for_condition(
                lambda: redis_server.cli("HLEN", held_key) == "1", "the leave held in Redis"
            )
            a.stop(kill=True)
            while not target.bodies.empty():
                target.bodies.get_nowait()
            target.always = None
            b = await start(workdir, config, "b")
            events: list[dict[str, str]] = []
            want = [
                {"name": "channel_occupied", "channel": "public-retrying"},
                {"name": "channel_occupied", "channel": "public-held"},
                {"name": "channel_vacated", "channel": "public-held"},
            ]
            while not all(e in events for e in want):
                body = await asyncio.wait_for(target.bodies.get(), 15)
                events.extend(json.loads(body)["events"])
            # At least once: a POST node a made just before the kill may still reach the
            # receiver after the drain above and be sent again by node b (docs/publishing.md).
            assert all(event in want for event in events), events
            # Node b acks a batch once the receiver has answered, after the body arrived here.
            due = RedisKeys(prefix).webhooks(APP_ID)[0]
            await wait_for_condition(
                lambda: redis_server.cli("ZCARD", due) == "0", "the queue emptied by node b"
            )
        finally:
            a.stop(kill=True)
            if b is not None:
                b.stop()
