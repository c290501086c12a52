"""The node registry contract (the model is centrifuge's ``nodeRegistry``): this node's
registration among the live nodes, kept by a heartbeat, and the connection counts the nodes
share so that an app's connection quota holds across the cluster.

A registry shared by several nodes also keeps a ``NodeState`` true: what this node holds under
its node id in the shared store (the Redis presence store's entries). Each heartbeat tells it
whether the node had to register again (the store lost it); a node silent for too long is
claimed by one live node, whose registry hands it to ``NodeState.sweep`` before forgetting it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

# This node's open connections per app, for the apps that have a connection quota (the hub's).
ConnectionCounter = Callable[[], Mapping[str, int]]


class NodeRegistry(Protocol):
    async def start(self) -> None:
        """Register this node and start its heartbeat."""

    async def close(self) -> None:
        """Stop the heartbeat, withdraw this node's counts and unregister it (unless its
        ``NodeState`` still holds entries: then another node sweeps them). Never raises for
        an unreachable or refusing backend."""

    def set_connection_counter(self, counter: ConnectionCounter) -> None:
        """Where this node's connection counts come from; a registry shared by several nodes
        tells the others (``other_connections``)."""

    def other_connections(self, app_id: str) -> int:
        """Connections to ``app_id`` on the other live nodes, as last heard (at most about
        one heartbeat old); 0 for a registry only one node uses."""


class NodeState(Protocol):
    """What a node holds in a shared store under its node id, kept true by its registry's
    heartbeat (the Redis presence store implements it)."""

    async def heartbeat(self, registered_again: bool, healthy_for: float) -> None:
        """Called after each heartbeat that stamped this node. ``registered_again``: the node
        was not registered (new, swept while alive, or the store lost its data), so what the
        store holds for it may differ from what it holds. ``healthy_for``: seconds since the
        store started answering heartbeats again (0 at the first). Raises
        ``ServiceUnavailable`` when the store cannot answer."""

    def heartbeat_failed(self) -> None:
        """A heartbeat failed (the store was unreachable or refused a command): what it holds
        for this node may now differ from this node's own view."""

    async def sweep(self, node_id: str) -> None:
        """Remove what the dead node ``node_id`` held, and announce what that ends. Raises
        ``ServiceUnavailable`` when the store cannot answer (the node stays claimed and is
        swept again once the claim lapses)."""

    async def holds_entries(self) -> bool:
        """Whether the store still holds entries of this node (a leave that could not reach
        it): asked when the node stops, which then stays registered for another to sweep."""
