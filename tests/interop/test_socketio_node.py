"""socket.io-client (Node), with its default transports (long-polling, then the upgrade to
WebSocket), against a real roomkey: the Socket.IO contract of docs/protocol.md."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from roomkey.core.signing import sign_channel
from tests.support.apps import APP_SECRET
from tests.support.node import start_node
from tests.support.servers import Server

pytestmark = [pytest.mark.node]

CLIENT_JS = """
const { io } = require("socket.io-client");
const readline = require("readline");
const socket = io(process.argv[1], { auth: { key: "test-key" }, reconnection: false });
const out = (kind, body) => console.log(JSON.stringify({ kind, body }));
socket.on("connection_established", (body) => out("established", body));
for (const name of ["event", "member_added", "member_removed", "error"]) {
  socket.on(name, (body) => out(name, body));
}
// Requests come in on stdin, one JSON [event, payload] per line; acks go out.
readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [event, payload] = JSON.parse(line);
  socket.emit(event, payload, (ack) => out("ack", { event, transport: socket.io.engine.transport.name, ack }));
});
setTimeout(() => process.exit(3), 20000);
"""


class NodeClient:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def read(self, kind: str) -> Any:
        assert self.proc.stdout is not None
        for _ in range(20):
            line = await asyncio.wait_for(self.proc.stdout.readline(), 10)
            assert line, "the Node client exited"
            message = json.loads(line)
            if message["kind"] == kind:
                return message["body"]
        raise AssertionError(f"no {kind}")

    async def send(self, event: str, payload: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps([event, payload]) + "\n").encode())
        await self.proc.stdin.drain()
        return await self.read("ack")


async def test_default_transports_subscribe_and_receive(server: Server) -> None:
    proc = await start_node("-e", CLIENT_JS, server.url, stdin=True)
    try:
        client = NodeClient(proc)
        established = await client.read("established")
        socket_id = established["socket_id"]
        assert established["activity_timeout"] == 120
        auth = sign_channel("test-key", APP_SECRET, socket_id, "private-node")
        answer = await client.send("subscribe", {"channel": "private-node", "auth": auth})
        assert answer["ack"] == {"channel": "private-node"}
        bad = await client.send("subscribe", {"channel": "private-other", "auth": auth})
        assert bad["ack"]["error"]["code"] == 4009
        rt = server.runtime
        # Publish until the client has certainly upgraded, and after: every event arrives once.
        for i in range(3):
            await rt.hub.publish(rt.apps.default, ["private-node"], "e", f"n{i}")
            event = await client.read("event")
            assert event == {"channel": "private-node", "event": "e", "data": f"n{i}"}
        answer = await client.send("unsubscribe", {"channel": "private-node"})
        assert answer["ack"] == {"channel": "private-node"}
        assert answer["transport"] == "websocket"
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
