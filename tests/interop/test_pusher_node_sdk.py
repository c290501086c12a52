"""The official Node ``pusher`` SDK (web/node_modules) publishing to a running roomkey."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.support.apps import APP_ID, APP_KEY, APP_SECRET
from tests.support.node import start_node
from tests.support.paths import JS_DIR, NODE_MODULES
from tests.support.rest import join
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient

pytestmark = [pytest.mark.node]

SCRIPT = JS_DIR / "pusher_trigger.cjs"


async def node_publish(server: Server, calls: list[dict[str, Any]], **app: str) -> list[Any]:
    if not (NODE_MODULES / "pusher").is_dir():
        pytest.fail("web/node_modules/pusher is missing: run npm ci in web/")
    opts = {
        "appId": app.get("app_id", APP_ID),
        "key": app.get("key", APP_KEY),
        "secret": app.get("secret", APP_SECRET),
        "port": server.port,
        "calls": calls,
    }
    proc = await start_node(str(SCRIPT), json.dumps(opts))
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_node_sdk_trigger(server: Server, connect: ConnectClient) -> None:
    a = await connect(server)
    b = await connect(server)
    await join(a, server, "presence-node", "u1")
    await join(b, server, "private-node")
    results = await node_publish(
        server,
        [
            {"channels": ["presence-node", "private-node"], "event": "hi", "data": {"n": 1}},
            {"channels": ["private-node"], "event": "text", "data": "plain string"},
            {
                "channels": ["presence-node"],
                "event": "with-info",
                "data": "x",
                "params": {"info": "user_count,subscription_count"},
            },
            {
                "channels": ["private-node"],
                "event": "skip",
                "data": "not for b",
                "params": {"socket_id": b.socket_id},
            },
            {"batch": [{"channel": "private-node", "name": "batched", "data": "b1"}]},
            {"channels": ["private-node"], "event": "pusher:nope", "data": "x"},
        ],
    )
    assert results[0] == {"status": 200, "body": {}}
    assert results[1] == {"status": 200, "body": {}}
    assert results[2] == {
        "status": 200,
        "body": {"channels": {"presence-node": {"user_count": 1, "subscription_count": 1}}},
    }
    assert results[3]["status"] == 200
    assert results[4] == {"status": 200, "body": {}}
    assert results[5]["status"] == 400
    assert "reserved" in results[5]["body"]

    first = await a.next("event")
    assert first["event"] == "hi"
    assert json.loads(first["data"]) == {"n": 1}
    assert (await a.next("event"))["event"] == "with-info"
    got = [await b.next("event") for _ in range(3)]
    assert [e["event"] for e in got] == ["hi", "text", "batched"]
    assert got[1]["data"] == "plain string"
    await b.nothing("event", within=0.2)


async def test_node_sdk_with_a_wrong_secret_is_refused(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    await join(a, server, "private-node")
    results = await node_publish(
        server,
        [{"channels": ["private-node"], "event": "forged", "data": "x"}],
        secret="not-the-secret-000000",
    )
    assert results[0]["status"] == 401
    await a.nothing("event", within=0.2)
