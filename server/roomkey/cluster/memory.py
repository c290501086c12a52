"""One node and no shared store: there are no other nodes, so no other connections. A real
implementation (what a node without ``[redis] url`` runs), not a test double."""

from __future__ import annotations

from roomkey.cluster.base import ConnectionCounter, NodeRegistry


class MemoryNodeRegistry(NodeRegistry):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def set_connection_counter(self, counter: ConnectionCounter) -> None:
        """One node: the hub's own count is the whole count."""

    def other_connections(self, app_id: str) -> int:
        return 0
