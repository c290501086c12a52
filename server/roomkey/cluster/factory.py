"""The one factory of node registries: Redis with a ``[redis]`` topology (url, sentinels or cluster nodes), memory without."""

from __future__ import annotations

from roomkey.cluster.base import NodeRegistry
from roomkey.cluster.memory import MemoryNodeRegistry
from roomkey.cluster.redis import RedisNodeRegistry
from roomkey.config import Settings
from roomkey.presence.base import PresenceStore
from roomkey.presence.redis import RedisPresenceStore


def create_node_registry(settings: Settings, node_id: str, presence: PresenceStore) -> NodeRegistry:
    """The registry of node ``node_id``. ``presence``: the store ``create_presence_store``
    made for the same settings; a Redis one is the ``NodeState`` the heartbeat keeps true and
    sweeps dead nodes from."""
    if settings.redis.enabled:
        if not isinstance(presence, RedisPresenceStore):
            raise TypeError("a Redis node registry needs the Redis presence store")
        return RedisNodeRegistry(settings.redis, node_id, presence)
    return MemoryNodeRegistry()
