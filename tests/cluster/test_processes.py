"""Real roomkey processes (``python -m roomkey.cli serve``) sharing a real redis-server, with real
Socket.IO clients: a node killed with SIGKILL, a graceful stop with SIGTERM, ``--workers``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from bench.processes import descendants

from roomkey.core.signing import sign_user
from tests.support.apps import APP_ID, APP_KEY, APP_SECRET, JWT_SECRET, make_token
from tests.support.metrics import sample, scrape_url
from tests.support.paths import REPO_ROOT
from tests.support.redis_server import RedisServer
from tests.support.servers import free_port
from tests.support.socketio_client import ConnectClient, SioClient
from tests.support.waiting import wait_for_condition

ROOT = REPO_ROOT
HEARTBEAT = 0.3
NODE_TIMEOUT = 1.2


def write_config(
    redis_url: str, prefix: str, workers: int = 1, node_timeout: float = NODE_TIMEOUT
) -> str:
    text = f"""
[server]
host = "127.0.0.1"
workers = {workers}
shutdown_timeout_seconds = 3

[redis]
url = "{redis_url}"
prefix = "{prefix}"
heartbeat_seconds = {HEARTBEAT}
node_timeout_seconds = {node_timeout}
operation_timeout_seconds = 0.5

[jwt]
secret = "{JWT_SECRET}"

[[apps]]
id = "{APP_ID}"
key = "{APP_KEY}"
secret = "{APP_SECRET}"
client_events = true

[[apps.rules]]
pattern = "private-*"

[[apps.rules]]
pattern = "presence-*"
"""
    fd, path = tempfile.mkstemp(prefix="roomkey-node-", suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


@dataclass
class Node:
    """A roomkey process; ``url`` and ``prefix`` are what the ``connect`` fixture needs."""

    process: subprocess.Popen[bytes]
    port: int
    prefix: str = ""  # roomkey serve mounts every route at the root

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def readyz(url: str) -> tuple[int, str]:
    """``GET /readyz``: the status and the node id (which only the metrics listener names)."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
        http.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp,
    ):
        body = await resp.json()
        return resp.status, str(body.get("node"))


def spawn_roomkey(config: str, port: int, metrics_port: int = 0) -> subprocess.Popen[bytes]:
    """``roomkey serve``; its metrics listener on ``metrics_port`` (0: any free port, so that
    nodes side by side never compete for one)."""
    return subprocess.Popen(
        [
            *[sys.executable, "-m", "roomkey.cli", "serve", "--config", config],
            *["--port", str(port), "--metrics-port", str(metrics_port)],
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


StartNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def start_node(redis_server: RedisServer) -> AsyncIterator[StartNode]:
    """``await start_node(prefix, workers=1, node_timeout=NODE_TIMEOUT, metrics_port=0)``: a
    ready roomkey process (stopped by PID)."""
    nodes: list[Node] = []
    configs: list[str] = []

    async def start(
        prefix: str, workers: int = 1, node_timeout: float = NODE_TIMEOUT, metrics_port: int = 0
    ) -> Node:
        config = write_config(redis_server.url, prefix, workers, node_timeout)
        configs.append(config)
        port = free_port()
        proc = spawn_roomkey(config, port, metrics_port)
        node = Node(proc, port)
        nodes.append(node)

        async def ready() -> bool:
            assert proc.poll() is None, "roomkey exited at start"
            try:
                return (await readyz(node.url))[0] == 200
            except (TimeoutError, aiohttp.ClientError):
                return False

        await wait_for_condition(ready, "roomkey to become ready", timeout=20, interval=0.1)
        return node

    yield start
    for node in nodes:
        if node.process.poll() is None:
            node.process.kill()
            node.process.wait(10)
    for config in configs:
        os.unlink(config)


def prefix() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


@pytest.mark.slow
@pytest.mark.redis
async def test_killed_node_is_swept_and_each_gone_user_removed_once(
    start_node: StartNode, connect: ConnectClient
) -> None:
    p = prefix()
    a, b = await start_node(p), await start_node(p)
    observer = await connect(a, token=make_token("1"))
    await observer.subscribe("presence-k")
    gone = await connect(b, token=make_token("5"))
    await gone.subscribe("presence-k")
    stays_b = await connect(b, token=make_token("6"))
    await stays_b.subscribe("presence-k")
    stays_a = await connect(a, token=make_token("6"))
    await stays_a.subscribe("presence-k")
    assert {(await observer.next("member_added"))["user_id"] for _ in range(2)} == {"5", "6"}
    b.process.send_signal(signal.SIGKILL)
    b.process.wait(10)
    removed = await observer.next("member_removed", timeout=10)
    assert removed == {"channel": "presence-k", "user_id": "5"}
    await observer.nothing("member_removed", within=3 * HEARTBEAT)
    ack = await (await connect(a, token=make_token("2"))).subscribe("presence-k")
    assert sorted(ack["presence"]["ids"]) == ["1", "2", "6"]


@pytest.mark.slow
@pytest.mark.redis
async def test_a_watched_user_on_a_killed_node_goes_offline(
    start_node: StartNode, connect: ConnectClient
) -> None:
    p = prefix()
    a, b = await start_node(p), await start_node(p)

    async def signin(client: SioClient, user_data: dict[str, object]) -> None:
        text = json.dumps(user_data)
        auth = sign_user(APP_KEY, APP_SECRET, client.socket_id, text)
        assert await client.call("signin", {"auth": auth, "user_data": text}) == {"user_data": text}

    watched = await connect(b)
    await signin(watched, {"id": "k"})
    watcher = await connect(a)
    await signin(watcher, {"id": "w", "watchlist": ["k"]})
    assert await watcher.next("watchlist") == {"event": "online", "user_ids": ["k"]}
    b.process.send_signal(signal.SIGKILL)
    b.process.wait(10)
    # Node a's sweep of the dead node announces the user's last connection gone.
    assert await watcher.next("watchlist", timeout=10) == {"event": "offline", "user_ids": ["k"]}


@pytest.mark.slow
@pytest.mark.redis
async def test_sigterm_tells_clients_to_reconnect_and_leaves_presence_at_once(
    start_node: StartNode, connect: ConnectClient
) -> None:
    p = prefix()
    # Sweeps would take a minute: a prompt member_removed can only come from the stop itself.
    a, b = await start_node(p, node_timeout=60), await start_node(p, node_timeout=60)
    observer = await connect(a, token=make_token("1"))
    await observer.subscribe("presence-t")
    leaving = await connect(b, token=make_token("5"))
    await leaving.subscribe("presence-t")
    assert (await observer.next("member_added"))["user_id"] == "5"
    b.process.send_signal(signal.SIGTERM)
    assert await leaving.next("error", timeout=5) == {
        "code": 4200,
        "message": "server is shutting down, reconnect",
    }
    removed = await observer.next("member_removed", timeout=10)
    assert removed == {"channel": "presence-t", "user_id": "5"}
    assert b.process.wait(10) == 0
    await observer.nothing("member_removed", within=3 * HEARTBEAT)


def free_port_pair() -> int:
    """A port P such that P and P + 1 are both free (two workers' metrics listeners)."""
    for _ in range(100):
        port = free_port()
        if port < 65535:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port
    pytest.fail("no two consecutive free ports")


async def socketio_connections(metrics_url: str) -> float:
    text = await scrape_url(metrics_url)
    return sample(text, "roomkey_connections", transport="socketio") or 0.0


@pytest.mark.slow
@pytest.mark.redis
async def test_workers_share_one_port_and_their_channels(
    start_node: StartNode, connect: ConnectClient
) -> None:
    base = free_port_pair()
    node = await start_node(prefix(), workers=2, metrics_port=base)
    # Worker i serves its own metrics on metrics.port + i. The second worker may still be
    # starting when the first answers: ask for a while.
    listeners = [f"http://127.0.0.1:{base + i}" for i in range(2)]
    nodes_seen: dict[str, str] = {}

    async def both_listeners_ready() -> bool:
        for url in listeners:
            try:
                status, node_id = await readyz(url)
            except (TimeoutError, aiohttp.ClientError):
                continue
            if status == 200:
                nodes_seen[url] = node_id
        return len(nodes_seen) == 2

    await wait_for_condition(
        both_listeners_ready, "both workers' metrics listeners", timeout=15, interval=0.05
    )
    assert len(set(nodes_seen.values())) == 2, f"two workers' listeners: {nodes_seen}"
    # The kernel spreads connections to the shared port over both workers.
    clients = []
    for i in range(64):
        clients.append(await connect(node, token=make_token(str(i))))
        if len(clients) >= 8 and all([await socketio_connections(u) > 0 for u in listeners]):
            break
    assert all([await socketio_connections(u) > 0 for u in listeners]), (
        "connections were not spread over two workers"
    )
    for c in clients:
        await c.subscribe("private-w")
    ack = await clients[0].call("trigger", {"channel": "private-w", "event": "client-a", "data": 1})
    assert ack == {}
    for c in clients[1:]:
        assert (await c.next("event"))["event"] == "client-a"
    node.process.send_signal(signal.SIGTERM)
    for c in clients:
        assert (await c.next("error", timeout=8))["code"] == 4200
    assert node.process.wait(15) == 0


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a parent that no longer reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.redis
async def test_workers_stop_gracefully_when_their_parent_is_killed(
    start_node: StartNode, connect: ConnectClient
) -> None:
    """SIGKILL of the --workers parent: the kernel sends each worker SIGTERM (PDEATHSIG), so
    no orphan keeps the port; clients are told to reconnect as on a graceful stop."""
    node = await start_node(prefix(), workers=2)
    workers: set[int] = set()

    def both_spawned() -> bool:  # the second may still be importing
        nonlocal workers
        workers = {p for p in descendants(node.process.pid) if "spawn_main" in _cmdline(p)}
        return len(workers) == 2

    await wait_for_condition(both_spawned, "both workers spawned", timeout=10, interval=0.1)
    assert len(workers) == 2, workers
    client = await connect(node, token=make_token("1"))
    node.process.send_signal(signal.SIGKILL)
    node.process.wait(10)
    assert (await client.next("error", timeout=10))["code"] == 4200
    await wait_for_condition(  # the graceful stop's deadline and more
        lambda: not any(alive(p) for p in workers), "the workers to stop", timeout=20, interval=0.1
    )
    assert not any(alive(p) for p in workers), "a worker outlived its killed parent"
    with pytest.raises((aiohttp.ClientError, TimeoutError)):
        await readyz(node.url)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


def test_workers_without_redis_are_refused() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "roomkey.cli", "serve", "--workers", "2", "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert b"needs redis.url" in out.stderr
