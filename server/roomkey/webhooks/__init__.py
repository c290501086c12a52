"""Webhooks as Pusher sends them (``dispatcher``): the leave delay (``debounce``), where
events wait (``base``: the store contract; ``memory``, ``redis``; ``factory``) and how a
batch is sent (``delivery``)."""

from __future__ import annotations

from roomkey.webhooks.delivery import WebhookSender, backoff_delay, webhook_body
from roomkey.webhooks.dispatcher import MAX_EVENTS_PER_BATCH, MAX_IN_FLIGHT, WebhookDispatcher
from roomkey.webhooks.factory import create_webhook_store

__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "MAX_IN_FLIGHT",
    "WebhookDispatcher",
    "WebhookSender",
    "backoff_delay",
    "create_webhook_store",
    "webhook_body",
]
