"""What a node registers in Redis for each subscription and presence connection (an
``Entry``, named by ``Entry.key`` in the node's entries set), and the ``Gate`` that lets a
reconciliation compare this node's entries with Redis while nothing changes them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from roomkey.core.protocol import dumps


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str  # "s" a subscription, "p" a presence connection
    app_id: str
    channel: str
    socket_id: str
    user_id: str = ""
    user_info: Any = None

    @property
    def key(self) -> str:
        return dumps([self.kind, self.app_id, self.channel, self.socket_id])


def parse_entry(raw: bytes | str) -> Entry | None:
    try:
        kind, app_id, channel, socket_id = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if kind not in ("s", "p") or not all(isinstance(v, str) for v in (app_id, channel, socket_id)):
        return None
    return Entry(kind, app_id, channel, socket_id)


def json_or_none(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


class Gate:
    """Many store operations at once, or one reconciliation alone (so that it compares a
    mirror and a Redis state that nothing changes under it)."""

    def __init__(self) -> None:
        self._ops = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._open = asyncio.Event()
        self._open.set()

    @asynccontextmanager
    async def op(self) -> AsyncIterator[None]:
        await self._open.wait()
        self._ops += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._ops -= 1
            if self._ops == 0:
                self._idle.set()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        self._open.clear()
        try:
            await self._idle.wait()
            yield
        finally:
            self._open.set()
