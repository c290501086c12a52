"""The load generator: one process that opens many raw WebSocket clients against one server.

    python -m bench.loadgen --port P[,P2...] --proto sio|sio-bare|ws|pusher|echo --clients N
        [--deflate] [--burst M] [--paced M --interval S] [--key KEY] [--publish-port P]
        [--redis-url URL --redis-prefix PREFIX] [--source-addresses K]

It connects ``N`` clients (at most 200 handshakes in flight; spread round-robin over the
ports given, e.g. two nodes of a cluster), joins each to the channel ``bench`` in the
protocol's own way, and prints one line ``READY {json}`` (connect rate, errors). It then waits
for one line on stdin (the orchestrator measures the server's memory in between) and, if
asked, runs a burst and a paced fan-out: ``M`` signed REST publishes
(``POST /apps/{id}/events``, ``bench/publisher.py``) to the first port (or
``--publish-port``), each carrying this process's monotonic clock at publish time as
``@<ns>@`` in its data, and records every arrival. With ``--redis-url`` it publishes
through Redis instead, as a Laravel application feeds laravel-echo-server
(``bench/redis_publisher.py``): same stamp, same counts, same pacing. After the fan-out,
before its clients leave, it prints ``FANNED {}`` and waits for one more line on stdin (the
orchestrator reads the servers' CPU then, so that the clients' departure is not counted as
delivery work). Last line: ``RESULT {json}``.

Protocols:
- ``sio``: roomkey over Engine.IO v4 / Socket.IO v5 (auth ``{"key"}``, ``subscribe`` with ack).
- ``sio-bare``: a bare python-socketio server that puts every client in one room on connect.
- ``ws``: a plain aiohttp WebSocket server that sends ``hello`` once a client is registered.
- ``pusher``: Pusher protocol 7 at ``/app/{key}?protocol=7`` (``pusher:subscribe``).
- ``echo``: laravel-echo-server over Engine.IO v3 / Socket.IO v2 (``bench/eio3.py``: client
  pings, ``subscribe`` without an ack, a ping right after it whose pong marks the client
  ready, and the server's own subscriber count checked after connecting).

``--source-addresses K`` spreads the clients over the loopback source addresses 127.0.0.1 to
127.0.0.K (one source address has about 28k ephemeral ports towards one server port). The
load generator raises its own open-file limit to the hard limit and fails at once, before
connecting, when that cannot hold ``--clients`` sockets.

Every wait is bounded by ``--timeout``; only 127.0.0.1 is dialled.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import resource
import sys
import time
from typing import Any

import aiohttp

from bench import eio3
from bench.publisher import BasePublisher, Publisher
from bench.redis_publisher import RedisPublisher
from bench.wsclient import WsClient, open_ws

HOST = "127.0.0.1"
CHANNEL = "bench"
STAMP = re.compile(r"@(\d+)@")
IN_FLIGHT = 200
ECHO_ARRIVAL = eio3.arrival_prefix(CHANNEL)
ECHO_SUBSCRIBE = eio3.subscribe_frame(CHANNEL)


class Fleet:
    """All clients of one run and the arrivals they record."""

    def __init__(self, proto: str, key: str) -> None:
        self.proto = proto
        self.key = key
        self.ready: dict[WsClient, asyncio.Future[None]] = {}
        self.latencies_ns: list[int] = []
        self.expected = 0
        self.first_arrival = 0
        self.last_arrival = 0
        self.done: asyncio.Event = asyncio.Event()
        self.keepalive = eio3.Keepalive()
        self.ping_interval = 0.0

    def path(self) -> str:
        if self.proto in ("sio", "sio-bare"):
            return "/socket.io/?EIO=4&transport=websocket"
        if self.proto == "echo":
            return eio3.PATH
        if self.proto == "ws":
            return "/ws"
        return f"/app/{self.key}?protocol=7&client=bench&version=1.0"

    def _joined(self, client: WsClient) -> None:
        fut = self.ready.get(client)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _refused(self, client: WsClient, why: str) -> None:
        fut = self.ready.get(client)
        if fut is not None and not fut.done():
            fut.set_exception(RuntimeError(why))

    def _arrival(self, text: str) -> None:
        m = STAMP.search(text)
        if m is None:
            return
        now = time.monotonic_ns()
        if not self.latencies_ns:
            self.first_arrival = now
        self.last_arrival = now
        self.latencies_ns.append(now - int(m.group(1)))
        if len(self.latencies_ns) >= self.expected:
            self.done.set()

    def on_text(self, client: WsClient, text: str) -> None:
        proto = self.proto
        if proto in ("sio", "sio-bare"):
            kind = text[:2]
            if kind == "42":
                if text.startswith('42["event"'):
                    self._arrival(text)
                elif proto == "sio" and text.startswith('42["connection_established"'):
                    client.send_text('420["subscribe",{"channel":"' + CHANNEL + '"}]')
            elif text[:1] == "0":
                auth = json.dumps({"key": self.key}) if proto == "sio" else ""
                client.send_text("40" + auth)
            elif kind == "40" and proto == "sio-bare":
                self._joined(client)
            elif kind == "43":
                if '"error"' in text[:16]:
                    self._refused(client, f"subscribe refused: {text[:200]}")
                else:
                    self._joined(client)
            elif text == "2":
                client.send_text("3")
            elif kind == "44":
                self._refused(client, f"connect refused: {text[:200]}")
        elif proto == "echo":
            self._on_echo(client, text)
        elif proto == "ws":
            if text == "hello":
                self._joined(client)
            else:
                self._arrival(text)
        else:
            if "pusher" not in text:  # a channel event: no need to parse it
                self._arrival(text)
                return
            event = json.loads(text).get("event")
            if event == "pusher:connection_established":
                client.send_text(
                    json.dumps({"event": "pusher:subscribe", "data": {"channel": CHANNEL}})
                )
            elif event == "pusher_internal:subscription_succeeded":
                self._joined(client)
            elif event == "pusher:ping":
                client.send_text('{"event":"pusher:pong","data":{}}')
            elif event in ("pusher:error", "pusher:subscription_error"):
                self._refused(client, f"{event} {text[:200]}")
            else:
                self._arrival(text)

    def _on_echo(self, client: WsClient, text: str) -> None:
        """Engine.IO v3 / Socket.IO v2 (``bench/eio3.py``)."""
        if text.startswith(ECHO_ARRIVAL):
            self._arrival(text)
        elif text == eio3.PONG:
            self._joined(client)  # the first pong answers the ping sent after the subscribe
        elif text == "40":
            client.send_text(ECHO_SUBSCRIBE)
            client.send_text(eio3.PING)
            self.keepalive.start(client, self.ping_interval)
        elif text[:1] == "0":
            self.ping_interval = eio3.ping_interval_seconds(text)
        elif text.startswith('42["subscription_error"') or text[:2] in ("41", "44"):
            self._refused(client, f"refused: {text[:200]}")

    async def open_one(
        self, port: int, deflate: bool, timeout: float, source: str | None = None
    ) -> WsClient:
        """One client, upgraded and joined to the channel (or an exception)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_text(client: WsClient, text: str) -> None:
            # The first frames can arrive with the upgrade answer, before open_ws returns.
            self.ready.setdefault(client, fut)
            self.on_text(client, text)

        client = await open_ws(
            HOST, port, self.path(), on_text, deflate=deflate, timeout=timeout, local_host=source
        )
        self.ready.setdefault(client, fut)
        await asyncio.wait_for(fut, timeout)
        return client


async def connect_all(
    fleet: Fleet, ports: list[int], n: int, deflate: bool, timeout: float, sources: int = 0
) -> tuple[list[WsClient], dict[str, Any]]:
    sem = asyncio.Semaphore(IN_FLIGHT)
    next_port = itertools.cycle(ports)
    next_source = itertools.cycle(
        [f"127.0.0.{i}" for i in range(1, sources + 1)] if sources else [None]
    )
    clients: list[WsClient] = []
    errors: list[str] = []
    accepted = 0

    async def one(port: int, source: str | None) -> None:
        nonlocal accepted
        async with sem:
            try:
                c = await fleet.open_one(port, deflate, timeout, source)
            except Exception as exc:  # counted and reported, never fatal to the run
                errors.append(type(exc).__name__ + ": " + str(exc)[:120])
                return
            clients.append(c)
            accepted += c.deflate_accepted

    start = time.monotonic()
    await asyncio.wait_for(
        asyncio.gather(*(one(next(next_port), next(next_source)) for _ in range(n))), timeout * 3
    )
    elapsed = time.monotonic() - start
    return clients, {
        "clients": n,
        "connected": len(clients),
        "errors": len(errors),
        "first_errors": errors[:3],
        "deflate_accepted": accepted,
        "connect_seconds": round(elapsed, 3),
        "connects_per_second": round(len(clients) / elapsed, 1) if elapsed else 0.0,
    }


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    i = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[i] / 1e6


async def fanout(
    fleet: Fleet,
    publisher: BasePublisher,
    subscribers: int,
    count: int,
    interval: float,
    timeout: float,
) -> dict[str, Any]:
    """Publish ``count`` messages ``interval`` seconds apart (REST API or Redis); wait for
    their arrivals."""
    fleet.latencies_ns = []
    fleet.expected = subscribers * count
    fleet.done = asyncio.Event()
    publisher.failures = []
    start = time.monotonic_ns()
    try:
        await asyncio.wait_for(publisher.run(count, interval), timeout)
        await asyncio.wait_for(fleet.done.wait(), timeout)
    except TimeoutError:
        pass
    lat = sorted(fleet.latencies_ns)
    received = len(lat)
    span = (fleet.last_arrival - start) / 1e9 if received else 0.0
    return {
        "messages": count,
        "interval": interval,
        "expected": fleet.expected,
        "received": received,
        "publish_failures": len(publisher.failures),
        "seconds": round(span, 3),
        "deliveries_per_second": round(received / span, 1) if span > 0 else 0.0,
        "p50_ms": round(percentile(lat, 0.50), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        "max_ms": round(lat[-1] / 1e6, 2) if lat else 0.0,
    }


async def confirm_subscribed(
    args: argparse.Namespace, ports: list[int], connected: int, stats: dict[str, Any]
) -> dict[str, Any]:
    """laravel-echo-server acknowledges no subscribe: check its own count of the channel's
    subscribers (``server_subscribed``) and count a shortfall as errors. Not part of the
    connect time."""
    bases = [f"http://{HOST}:{p}" for p in ports]
    try:
        subscribed = await eio3.wait_subscribed(
            bases, args.app_id, args.key, CHANNEL, connected, args.timeout
        )
    except (TimeoutError, aiohttp.ClientError) as exc:
        subscribed = 0
        stats["first_errors"] = [f"channel info: {type(exc).__name__}", *stats["first_errors"]]
    stats = dict(stats, server_subscribed=subscribed)
    if subscribed < connected:
        stats["errors"] += connected - subscribed
        stats["first_errors"] = [
            f"server reports {subscribed} of {connected} subscribed",
            *stats["first_errors"],
        ][:3]
    return stats


def raise_open_files(needed: int) -> None:
    """Soft open-file limit up to the hard one; ``SystemExit`` when that is too few."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"loadgen: {needed} open files needed, the hard limit is {hard}")


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    raise_open_files(args.clients + 100)
    fleet = Fleet(args.proto, args.key)
    ports = [int(p) for p in args.port.split(",")]
    clients, stats = await connect_all(
        fleet, ports, args.clients, args.deflate, args.timeout, args.source_addresses
    )
    publish_port = args.publish_port or ports[0]
    publisher: BasePublisher
    if args.redis_url:
        publisher = RedisPublisher(args.redis_url, args.redis_prefix, CHANNEL, args.timeout)
    else:
        publisher = Publisher(
            f"http://{HOST}:{publish_port}",
            args.app_id,
            args.key,
            args.secret,
            CHANNEL,
            args.timeout,
        )
    if args.proto == "echo" and clients:
        stats = await confirm_subscribed(args, ports, len(clients), stats)
    print("READY " + json.dumps(stats), flush=True)
    await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), args.timeout * 6)
    result: dict[str, Any] = {"connect": stats}
    if args.burst and clients:
        await asyncio.sleep(0.2)
        result["burst"] = await fanout(
            fleet, publisher, len(clients), args.burst, 0.0, args.timeout
        )
    if args.paced and clients:
        await asyncio.sleep(0.2)
        result["paced"] = await fanout(
            fleet, publisher, len(clients), args.paced, args.interval, args.timeout
        )
    print("FANNED {}", flush=True)
    await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), args.timeout * 6)
    fleet.keepalive.stop()
    for c in clients:
        c.close()
    await asyncio.sleep(0.1)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--port", required=True, help="port, or ports separated by commas")
    p.add_argument("--publish-port", type=int, default=0, help="REST port (default: the first)")
    p.add_argument("--app-id", default="bench")
    p.add_argument("--secret", default="bench-secret-0123456789")
    p.add_argument("--proto", choices=("sio", "sio-bare", "ws", "pusher", "echo"), required=True)
    p.add_argument("--key", default="bench-key")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    p.add_argument("--burst", type=int, default=0, help="messages published back to back")
    p.add_argument("--paced", type=int, default=0, help="messages published --interval apart")
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--redis-url", default="", help="publish through this Redis (echo)")
    p.add_argument("--redis-prefix", default="", help="the peer's Redis channel prefix")
    p.add_argument(
        "--source-addresses", type=int, default=0, help="spread over 127.0.0.1..127.0.0.K"
    )
    args = p.parse_args()
    result = asyncio.run(main_async(args))
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
