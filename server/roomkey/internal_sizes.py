"""How many entries roomkey's long-lived maps hold right now, in one flat mapping: what the
churn test asserts is back to 0 once every client has left, and what the soak benchmark
samples over time (docs/benchmarks.md).

Every map that grows with connections, subscriptions, users or messages is listed, by owner:
the hub (connections, channels, subscriptions, users), the authorization deadlines, the
throttle (per-connection windows; the limiter's address, user and app windows, which last
their window), the presence store (memory: channels and members; Redis: this node's mirror
of its entries), the broker (Redis channels listened to, subscribes awaiting confirmation),
both transports (their connections and tasks; python-socketio's and python-engineio's own
session maps), and what waits for webhooks and in-process hooks. Maps bounded by
configuration alone (apps, metrics label sets, LRU caches) are left out.
"""

from __future__ import annotations

from aiohttp import web

from roomkey.app import PARTS, PUSHER, SOCKETIO


def internal_sizes(app: web.Application) -> dict[str, int]:
    """``name -> entries`` for a running roomkey application (``create_app``'s, or a host
    application ``setup`` mounted roomkey in), read without awaiting anything. ``KeyError``
    before the application has started."""
    parts = app[PARTS]
    rt = parts.runtime
    sizes: dict[str, int] = {}
    sizes.update(rt.hub.sizes())
    sizes["deadlines.timers"] = len(rt.deadlines)
    sizes.update(rt.throttle.sizes())
    sizes.update(parts.presence.sizes())
    sizes.update(parts.broker.sizes())
    sizes.update(app[SOCKETIO].sizes())
    sizes.update(app[PUSHER].sizes())
    sizes["webhooks.queued"] = parts.webhooks.queued
    sizes["hooks.queued"] = rt.hooks.queued if rt.hooks is not None else 0
    return sizes
