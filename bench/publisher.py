"""Publishing for the benchmark: Pusher REST API calls, signed exactly as the Pusher SDKs sign.

``POST /apps/{app_id}/events`` with the JSON body ``{"name", "channels", "data"}`` and the query
``auth_key``, ``auth_timestamp``, ``auth_version=1.0``, ``body_md5`` and ``auth_signature``
(HMAC-SHA256 over ``POST\\npath\\nsorted query``, from ``roomkey.core.signing``). Every target gets
the same requests: roomkey checks them with its real REST API, the baselines' stand-in route
(``bench/baselines/events_route.py``) reads the body only.

Each message's data is ``@<monotonic ns>@`` plus padding, stamped just before its request is
written, so the load generator (another process on the same machine, the same monotonic clock)
measures publish-to-arrival latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp

from roomkey.core.signing import body_md5, sign_rest

PADDING = "x" * 64
# Requests in flight during a burst: enough to keep the server busy between responses.
BURST_CONCURRENCY = 4


def stamp() -> str:
    return f"@{time.monotonic_ns()}@{PADDING}"


def signed_events_request(
    app_id: str, key: str, secret: str, channel: str, event: str, data: str
) -> tuple[str, bytes]:
    """The path with its signed query, and the body, of one ``/apps/{id}/events`` call."""
    body = json.dumps({"name": event, "channels": [channel], "data": data}).encode()
    path = f"/apps/{app_id}/events"
    params = {
        "auth_key": key,
        "auth_timestamp": str(int(time.time())),
        "auth_version": "1.0",
        "body_md5": body_md5(body),
    }
    params["auth_signature"] = sign_rest(secret, "POST", path, params)
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{path}?{query}", body


class BasePublisher:
    """What the load generator needs of a publisher: ``run(count, interval)`` publishes
    ``count`` stamped messages on the benchmark channel and ``failures`` lists what failed.
    Burst and paced publishing are the same for every target (``run`` below); a subclass only
    says how one message is sent (``_one``) and what it holds open meanwhile (``_open``)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.failures: list[str] = []

    def _open(self) -> contextlib.AbstractAsyncContextManager[Callable[[], Awaitable[None]]]:
        raise NotImplementedError

    async def run(self, count: int, interval: float) -> None:
        """``count`` messages: back to back (``interval`` 0, ``BURST_CONCURRENCY`` in flight)
        or one every ``interval`` seconds."""
        async with self._open() as send:
            if interval <= 0:
                remaining = count

                async def worker() -> None:
                    nonlocal remaining
                    while remaining > 0:
                        remaining -= 1
                        await send()

                await asyncio.gather(*(worker() for _ in range(min(count, BURST_CONCURRENCY))))
                return
            for i in range(count):
                if i:
                    await asyncio.sleep(interval)
                await send()


class Publisher(BasePublisher):
    """Publishes ``tick`` events on one channel through one server's REST API."""

    def __init__(
        self, base_url: str, app_id: str, key: str, secret: str, channel: str, timeout: float
    ) -> None:
        super().__init__(timeout)
        self.base_url = base_url
        self.app_id, self.key, self.secret, self.channel = app_id, key, secret, channel

    async def _one(self, session: aiohttp.ClientSession) -> None:
        path, body = signed_events_request(
            self.app_id, self.key, self.secret, self.channel, "tick", stamp()
        )
        async with session.post(
            self.base_url + path,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        ) as resp:
            await resp.read()
            if resp.status != 200:
                self.failures.append(f"HTTP {resp.status}")

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        connector = aiohttp.TCPConnector(limit=BURST_CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:
            yield lambda: self._one(session)
