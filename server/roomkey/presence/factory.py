"""The one factory of presence stores: memory without ``redis.url``."""

from __future__ import annotations

from roomkey.config import Settings
from roomkey.presence.base import PresenceStore
from roomkey.presence.memory import MemoryPresenceStore


def create_presence_store(settings: Settings, node_id: str) -> PresenceStore:
    return MemoryPresenceStore()
