"""The load generator's Engine.IO v3 / Socket.IO v2 client mode (``--proto echo``), as
laravel-echo's Socket.IO connector speaks it to laravel-echo-server (socket.io 2).

- ``GET /socket.io/?EIO=3&transport=websocket``; the server sends the open packet
  ``0{"sid", "pingInterval", ...}`` and then ``40`` (the default namespace is joined without a
  connect packet from the client, unlike Socket.IO v5).
- Heartbeat the other way round from Engine.IO v4: the CLIENT sends ``2`` every
  ``pingInterval`` and the server answers ``3``; a server that hears nothing for
  ``pingInterval + pingTimeout`` closes the connection, so every client keeps pinging for the
  whole run (``Keepalive``).
- Joining: ``42["subscribe",{"channel":"bench","auth":{"headers":{}}}]``. On a public channel
  the server joins the socket to the room and answers nothing.
- Readiness: right after the subscribe the client sends a ping; the pong (``3``) marks it
  ready. The server reads one connection's packets in order and runs the subscribe handler
  (a synchronous room join) before it turns to any other input, so a broadcast it handles
  after that pong reaches this socket. After connecting, the load generator also reads the
  server's own count (``/apps/{id}/channels/{channel}``, ``channel_subscribers``) and reports
  any shortfall as errors.
- Deliveries: ``42["tick","bench",{"data":"@<ns>@..."}]`` (event, channel, payload).
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from bench.wsclient import WsClient

PATH = "/socket.io/?EIO=3&transport=websocket"
PING = "2"
PONG = "3"
EVENT = "tick"
POLL_SECONDS = 0.1


def subscribe_frame(channel: str) -> str:
    """laravel-echo's subscribe for a channel (no auth headers: a public channel)."""
    payload = ["subscribe", {"channel": channel, "auth": {"headers": {}}}]
    return "42" + json.dumps(payload, separators=(",", ":"))


def arrival_prefix(channel: str, event: str = EVENT) -> str:
    """How every delivery of ``event`` on ``channel`` starts: ``42["tick","bench",``."""
    return "42" + json.dumps([event, channel], separators=(",", ":"))[:-1] + ","


def ping_interval_seconds(open_packet: str) -> float:
    """``pingInterval`` from the open packet ``0{...}``, in seconds."""
    return float(json.loads(open_packet[1:])["pingInterval"]) / 1000


class Keepalive:
    """One timer per client that sends ``2`` every ``interval`` seconds until ``stop`` (or
    until its connection closes)."""

    def __init__(self) -> None:
        self.timers: dict[WsClient, asyncio.TimerHandle] = {}

    def start(self, client: WsClient, interval: float) -> None:
        if client not in self.timers:
            loop = asyncio.get_running_loop()
            self.timers[client] = loop.call_later(interval, self._ping, client, interval)

    def _ping(self, client: WsClient, interval: float) -> None:
        if client.transport is None or client.transport.is_closing():
            self.timers.pop(client, None)
            return
        client.send_text(PING)
        loop = asyncio.get_running_loop()
        self.timers[client] = loop.call_later(interval, self._ping, client, interval)

    def stop(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()


async def channel_subscribers(
    session: aiohttp.ClientSession, base_url: str, app_id: str, key: str, channel: str
) -> int:
    """The server's ``subscription_count`` for ``channel`` (its HTTP API, ``auth_key``)."""
    url = f"{base_url}/apps/{app_id}/channels/{channel}"
    async with session.get(url, params={"auth_key": key}) as resp:
        resp.raise_for_status()
        body = await resp.json()
    return int(body.get("subscription_count", 0))


async def wait_subscribed(
    base_urls: list[str], app_id: str, key: str, channel: str, expected: int, timeout: float
) -> int:
    """Poll the servers' counts until they add up to ``expected`` or ``timeout`` passes; the
    last total."""
    deadline = time.monotonic() + timeout
    total = 0
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:
        while True:
            total = 0
            for base in base_urls:
                total += await channel_subscribers(session, base, app_id, key, channel)
            if total >= expected or time.monotonic() >= deadline:
                return total
            await asyncio.sleep(POLL_SECONDS)
