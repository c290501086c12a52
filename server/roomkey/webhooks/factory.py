"""The one factory of webhook stores: Redis with ``redis.url``, memory without. ``queue``:
``"webhook"`` (the webhooks') or ``"hook"`` (the in-process hooks', ``hook_relay.py``)."""

from __future__ import annotations

from roomkey.config import Settings
from roomkey.webhooks.base import WebhookStore
from roomkey.webhooks.memory import MemoryWebhookStore
from roomkey.webhooks.redis import RedisWebhookStore


def create_webhook_store(settings: Settings, node_id: str, queue: str = "webhook") -> WebhookStore:
    if settings.redis.url:
        return RedisWebhookStore(settings.redis, node_id, queue)
    return MemoryWebhookStore()
