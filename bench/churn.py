"""The soak scenario's load: sustained connect, subscribe, publish, unsubscribe and disconnect
churn against one roomkey node, on both transports, presence included.

    python -m bench.churn --port P --seconds S [--concurrency N] [--token-exp T]

``N`` workers loop until ``S`` seconds have passed, each cycle one client, alternating
Socket.IO (python-socketio's client) and Pusher protocol 7 (aiohttp's WebSocket client): connect
with a JWT (a user among a few per worker, so users come and go too), subscribe to a public
channel, authorize (``POST /pusher/auth``) and join a presence channel, publish one event
through the signed REST API and wait (bounded) for it, unsubscribe from the public channel,
then disconnect; every fourth cycle leaves abruptly instead (the TCP connection dropped
without a goodbye, channels still held). Speed is not the point: the library clients are
used on purpose, for their real handshakes. Last line: ``RESULT {json}`` (cycles, errors).
Only 127.0.0.1 is dialled; every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp
import jwt
import socketio

from bench.publisher import signed_events_request
from bench.servers.roomkey_node import APP_ID, APP_KEY, APP_SECRET, JWT_SECRET

HOST = "127.0.0.1"
STEP_TIMEOUT = 10.0


_TOKENS: dict[str, str] = {}
TOKEN_EXP: list[int] = []  # --token-exp, when given: every token's ``exp``


def token(user: str) -> str:
    """The user's JWT, made once: a page keeps its token while it is valid (and a token per
    cycle would fill roomkey's bounded token cache, which is not what this measures). With
    ``--token-exp`` every churn process of a soak makes the same tokens (the same users keep
    coming back), so that the cache does not grow by a set of new tokens per process."""
    found = _TOKENS.get(user)
    if found is None:
        exp = TOKEN_EXP[0] if TOKEN_EXP else int(time.time()) + 3600
        payload = {"sub": user, "name": user, "exp": exp}
        found = _TOKENS[user] = jwt.encode(payload, JWT_SECRET, algorithm="HS256")
    return found


class Churn:
    def __init__(self, port: int) -> None:
        self.base = f"http://{HOST}:{port}"
        self.cycles = 0
        self.errors: list[str] = []
        self.http: aiohttp.ClientSession | None = None

    async def authorize(self, user: str, socket_id: str, channel: str) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.post(
            self.base + "/pusher/auth",
            data={"socket_id": socket_id, "channel_name": channel},
            headers={"Authorization": f"Bearer {token(user)}"},
        ) as resp:
            body: dict[str, Any] = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"authorize {resp.status}: {body}")
            return body

    async def publish(self, channel: str, data: str) -> None:
        assert self.http is not None
        path, body = signed_events_request(APP_ID, APP_KEY, APP_SECRET, channel, "soak", data)
        async with self.http.post(
            self.base + path, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"publish {resp.status}")

    async def socketio_cycle(self, worker: int, n: int) -> None:
        user = f"soak-{worker}-{n % 3}"
        public, presence = f"soak-{worker % 8}", f"presence-soak-{worker % 4}"
        client = socketio.AsyncClient(reconnection=False)
        arrived: asyncio.Queue[Any] = asyncio.Queue(maxsize=100)
        established: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_established(data: Any) -> None:
            if not established.done():
                established.set_result(data["socket_id"])

        def on_event(data: Any) -> None:
            if not arrived.full():
                arrived.put_nowait(data)

        client.on("connection_established", on_established)
        client.on("event", on_event)
        await client.connect(
            self.base,
            auth={"key": APP_KEY, "token": token(user)},
            transports=["websocket"],
            wait_timeout=STEP_TIMEOUT,
        )
        try:
            socket_id = await asyncio.wait_for(established, STEP_TIMEOUT)
            await self.expect_ack(client, "subscribe", {"channel": public})
            auth = await self.authorize(user, socket_id, presence)
            await self.expect_ack(client, "subscribe", {"channel": presence, **auth})
            mark = f"{worker}-{n}"
            await self.publish(public, mark)
            while (await asyncio.wait_for(arrived.get(), STEP_TIMEOUT)).get("data") != mark:
                pass
            await self.expect_ack(client, "unsubscribe", {"channel": public})
        finally:
            if n % 4 == 3:
                await client.eio.disconnect(abort=True)
            else:
                await client.disconnect()

    @staticmethod
    async def expect_ack(client: socketio.AsyncClient, event: str, payload: Any) -> None:
        ack = await client.call(event, payload, timeout=STEP_TIMEOUT)
        if not isinstance(ack, dict) or "error" in ack:
            raise RuntimeError(f"{event} refused: {ack}")

    async def pusher_cycle(self, worker: int, n: int) -> None:
        assert self.http is not None
        user = f"soak-{worker}-{n % 3}"
        public, presence = f"soak-{worker % 8}", f"presence-soak-{worker % 4}"
        ws = await self.http.ws_connect(
            f"{self.base}/app/{APP_KEY}?protocol=7&client=soak&version=1.0",
            headers={"Authorization": f"Bearer {token(user)}"},
            timeout=aiohttp.ClientWSTimeout(ws_close=STEP_TIMEOUT),
        )
        try:
            first = await self.next_frame(ws, "pusher:connection_established")
            socket_id = json.loads(first["data"])["socket_id"]
            await ws.send_json({"event": "pusher:subscribe", "data": {"channel": public}})
            await self.next_frame(ws, "pusher_internal:subscription_succeeded")
            auth = await self.authorize(user, socket_id, presence)
            await ws.send_json({"event": "pusher:subscribe", "data": {"channel": presence, **auth}})
            await self.next_frame(ws, "pusher_internal:subscription_succeeded")
            mark = f"{worker}-{n}"
            await self.publish(public, mark)
            while (await self.next_frame(ws, "soak")).get("data") != mark:
                pass
            await ws.send_json({"event": "pusher:unsubscribe", "data": {"channel": public}})
        finally:
            if n % 4 == 3:
                transport = ws._response.connection.transport if ws._response.connection else None
                if transport is not None:
                    transport.abort()
            await ws.close()

    @staticmethod
    async def next_frame(ws: aiohttp.ClientWebSocketResponse, event: str) -> dict[str, Any]:
        """The next frame named ``event`` (others skipped: member events, pings answered)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            msg = await ws.receive(timeout=STEP_TIMEOUT)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"socket ended: {msg.type}")
            frame: dict[str, Any] = json.loads(msg.data)
            if frame.get("event") == event:
                return frame
            if frame.get("event") == "pusher:ping":
                await ws.send_json({"event": "pusher:pong", "data": {}})
            if frame.get("event") in ("pusher:error", "pusher:subscription_error"):
                raise RuntimeError(f"refused: {msg.data[:200]}")
        raise TimeoutError(event)

    async def worker(self, worker: int, deadline: float) -> None:
        n = 0
        while time.monotonic() < deadline:
            cycle = self.socketio_cycle if (worker + n) % 2 == 0 else self.pusher_cycle
            try:
                await asyncio.wait_for(cycle(worker, n), STEP_TIMEOUT * 3)
                self.cycles += 1
            except Exception as exc:  # counted and reported, never fatal to the run
                self.errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            n += 1

    async def run(self, seconds: float, concurrency: int) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        async with aiohttp.ClientSession() as http:
            self.http = http
            await asyncio.gather(*(self.worker(w, deadline) for w in range(concurrency)))
        return {
            "seconds": seconds,
            "concurrency": concurrency,
            "cycles": self.cycles,
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--token-exp", type=int, default=0, help="every token's exp (Unix time)")
    args = p.parse_args()
    if args.token_exp:
        TOKEN_EXP.append(args.token_exp)
    result = asyncio.run(Churn(args.port).run(args.seconds, args.concurrency))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
