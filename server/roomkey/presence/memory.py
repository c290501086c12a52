"""One node's channel state in dictionaries. A real implementation, not a test double."""

from __future__ import annotations

from typing import Any

from roomkey.core.errors import LimitExceeded
from roomkey.presence.base import DepartureHandler, JoinResult, PresenceStore


class _PresenceChannel:
    __slots__ = ("info", "sockets")

    def __init__(self) -> None:
        self.sockets: dict[str, str] = {}  # socket_id -> user_id
        self.info: dict[str, tuple[Any, int]] = {}  # user_id -> (user_info, connections)


class MemoryPresenceStore(PresenceStore):
    def __init__(self) -> None:
        self._subs: dict[tuple[str, str], set[str]] = {}
        self._presence: dict[tuple[str, str], _PresenceChannel] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def add_subscriber(self, app_id: str, channel: str, socket_id: str) -> int:
        sockets = self._subs.setdefault((app_id, channel), set())
        sockets.add(socket_id)
        return len(sockets)

    async def remove_subscriber(self, app_id: str, channel: str, socket_id: str) -> int:
        sockets = self._subs.get((app_id, channel))
        if not sockets or socket_id not in sockets:
            return -1
        sockets.discard(socket_id)
        if not sockets:
            del self._subs[(app_id, channel)]
            return 0
        return len(sockets)

    async def subscriber_count(self, app_id: str, channel: str) -> int:
        return len(self._subs.get((app_id, channel), ()))

    async def channels(self, app_id: str, prefix: str = "") -> dict[str, int]:
        return {
            ch: len(s) for (a, ch), s in self._subs.items() if a == app_id and ch.startswith(prefix)
        }

    async def join(
        self,
        app_id: str,
        channel: str,
        socket_id: str,
        user_id: str,
        user_info: Any,
        max_members: int,
    ) -> JoinResult:
        pc = self._presence.setdefault((app_id, channel), _PresenceChannel())
        if socket_id in pc.sockets:
            return JoinResult(False, self._snapshot(pc))
        held = pc.info.get(user_id)
        if held is None and max_members and len(pc.info) >= max_members:
            if not pc.sockets:
                del self._presence[(app_id, channel)]
            raise LimitExceeded(f"presence channel is full ({max_members} members)")
        pc.sockets[socket_id] = user_id
        if held is None:
            pc.info[user_id] = (user_info, 1)
        else:
            pc.info[user_id] = (held[0], held[1] + 1)
        return JoinResult(held is None, self._snapshot(pc))

    async def leave(self, app_id: str, channel: str, socket_id: str) -> str | None:
        pc = self._presence.get((app_id, channel))
        if pc is None or socket_id not in pc.sockets:
            return None
        user_id = pc.sockets.pop(socket_id)
        info, count = pc.info[user_id]
        last = count <= 1
        if last:
            del pc.info[user_id]
        else:
            pc.info[user_id] = (info, count - 1)
        if not pc.sockets:
            del self._presence[(app_id, channel)]
        return user_id if last else None

    async def members(self, app_id: str, channel: str) -> dict[str, Any]:
        pc = self._presence.get((app_id, channel))
        return self._snapshot(pc) if pc else {}

    @staticmethod
    def _snapshot(pc: _PresenceChannel) -> dict[str, Any]:
        return {uid: info for uid, (info, _n) in pc.info.items()}

    def sizes(self) -> dict[str, int]:
        return {
            "presence.channels": len(self._subs),
            "presence.subscribers": sum(len(s) for s in self._subs.values()),
            "presence.presence_channels": len(self._presence),
            "presence.members": sum(len(p.info) for p in self._presence.values()),
        }

    def set_departure_handler(self, handler: DepartureHandler) -> None:
        """One node: every departure goes through the hub's ``leave``; nothing to sweep."""
