"""Node.js subprocesses for the interoperability tests: the npm clients and SDKs they load
come from web/node_modules (``npm ci`` in web/, done by the README's test command); the
programs they run are in tests/support/js. ``NodePusher`` drives the real pusher-js (and
Laravel Echo) through js/pusher_driver.mjs."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.apps import APP_KEY, make_token
from tests.support.markers import NODE, require
from tests.support.paths import JS_DIR, NODE_MODULES, WEB_DIR
from tests.support.servers import Server

DRIVER = JS_DIR / "pusher_driver.mjs"


async def start_node(
    *args: str, stdin: bool = False, stderr: bool = True, **env: str
) -> asyncio.subprocess.Process:
    """``node *args`` run in web/ with ``NODE_PATH`` on its node_modules (so CommonJS
    ``require`` finds them too): stdout piped, stdin piped when asked, stderr piped unless
    ``stderr=False`` (a long-running process whose stderr nobody reads keeps the test's).
    A missing ``node`` fails the test; it never skips it."""
    require(NODE, "Node.js")
    node = shutil.which("node")
    assert node is not None, "node is not installed: run the README's test command"
    pipe: Any = asyncio.subprocess.PIPE
    return await asyncio.create_subprocess_exec(
        node,
        *args,
        cwd=WEB_DIR,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES), **env},
        stdin=pipe if stdin else asyncio.subprocess.DEVNULL,
        stdout=pipe,
        stderr=pipe if stderr else None,
    )


class NodePusher:
    """pusher-js under Node: commands as JSON lines on stdin, reports as JSON lines on
    stdout (``seen`` keeps them all)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.seen: list[dict[str, Any]] = []
        self._unread: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(
        cls,
        server: Server,
        *,
        user_id: str = "42",
        key: str = APP_KEY,
        echo: bool = False,
        port: int | None = None,
        watchlist: list[str] | None = None,
    ) -> NodePusher:
        """pusher-js connected to ``server`` (or ``port``) as ``user_id``; ``watchlist``
        goes into the sign-in token's claims (so into the user-auth endpoint's user_data)."""
        if not (NODE_MODULES / "pusher-js").is_dir():
            pytest.fail("web/node_modules is missing: run npm ci in web/")
        cfg = {
            "host": "127.0.0.1",
            "port": port or server.port,
            "key": key,
            "token": make_token(user_id, name=f"User {user_id}"),
            "userToken": make_token(user_id, name=f"User {user_id}", watchlist=watchlist)
            if watchlist is not None
            else None,
            "echo": echo,
            "prefix": server.prefix,
        }
        proc = await start_node(
            str(DRIVER), stdin=True, stderr=False, ROOMKEY_DRIVER=json.dumps(cfg)
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            report = json.loads(line)
            self.seen.append(report)
            self._unread.put_nowait(report)

    async def send(self, op: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        await self.proc.stdin.drain()

    async def expect(
        self, match: Callable[[dict[str, Any]], bool], what: str, timeout: float = 10.0
    ) -> dict[str, Any]:
        """The next unread report that ``match``es (reports before it are skipped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    report = await self._unread.get()
                    if match(report):
                        return report
        except TimeoutError:
            raise AssertionError(f"pusher-js: no {what}; saw {self.seen[-15:]}") from None

    async def connected(self) -> str:
        report = await self.expect(
            lambda r: r["type"] == "state" and r["current"] == "connected", "connection"
        )
        return str(report["socket_id"])

    async def event(self, channel: str, event: str, timeout: float = 10.0) -> dict[str, Any]:
        return await self.expect(
            lambda r: r["type"] == "event" and r["channel"] == channel and r["event"] == event,
            f"{event} on {channel}",
            timeout,
        )

    async def stop(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
