"""Prometheus metrics in roomkey's own ``CollectorRegistry`` (never the global one, so two
servers in one process do not collide), served at ``GET /metrics``.

Live state (connections, subscriptions), the broker's counters and the rate limiter's
failures are read at scrape time by a collector (``watch_*``), so they can never drift from
the truth. Other counters and histograms are updated by the code that does the work: the
edges through ``refused`` and ``observe_rest``, the webhook dispatcher through the
``webhook_*`` families (see docs/operations.md).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from roomkey.broker.base import BrokerStats, DeliveryHandler
from roomkey.core.errors import LimitExceeded, OverQuota, PayloadTooLarge, RateLimited, RoomkeyError
from roomkey.hub.connection import Connection

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_FAST_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class _LiveState(Collector):
    """At scrape time: connections by app and transport, subscriptions by app, the rate
    limiter's failures and the broker's stats."""

    def __init__(self) -> None:
        self.source: Callable[[], Iterable[Connection]] | None = None
        self.limiter_failures: Callable[[], int] = lambda: 0
        self.broker_stats: Callable[[], BrokerStats] = BrokerStats
        # Run first at every collection (this collector is registered first): hot-path counts
        # kept as plain integers reach their counters before anything is read.
        self.before_collect: Callable[[], None] = lambda: None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        self.before_collect()
        conns = GaugeMetricFamily(
            "roomkey_connections", "Open connections", labels=["app", "transport"]
        )
        subs = GaugeMetricFamily(
            "roomkey_subscriptions", "Channel subscriptions of open connections", labels=["app"]
        )
        by_conn: Tally[tuple[str, str]] = Tally()
        by_sub: Tally[str] = Tally()
        for conn in list(self.source() if self.source else ()):
            by_conn[(conn.app.id, conn.transport)] += 1
            by_sub[conn.app.id] += len(conn.channels)
        for (app, transport), n in sorted(by_conn.items()):
            conns.add_metric([app, transport], n)
        for app, n in sorted(by_sub.items()):
            subs.add_metric([app], n)
        yield conns
        yield subs
        yield CounterMetricFamily(
            "roomkey_rate_limiter_failures",
            "Hits allowed because the rate-limit backend (Redis) could not be asked",
            value=self.limiter_failures(),
        )
        broker = self.broker_stats()
        yield CounterMetricFamily(
            "roomkey_broker_reconnects",
            "Broker (Redis) listener reconnects",
            value=broker.reconnects,
        )
        yield CounterMetricFamily(
            "roomkey_broker_dropped_malformed",
            "Messages from the broker dropped because they were malformed",
            value=broker.dropped_malformed,
        )
        if broker.lag_seconds is not None:
            yield GaugeMetricFamily(
                "roomkey_broker_lag_seconds",
                "Last measured broker delay (publish to receipt of the node's own ping)",
                value=broker.lag_seconds,
            )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._children: dict[tuple[object, ...], Any] = {}
        self._pending: dict[tuple[Counter, tuple[str, ...]], int] = {}
        self._live = _LiveState()
        self._live.before_collect = self._flush
        r.register(self._live)
        self.connections_opened = Counter(
            "roomkey_connections_opened", "Connections accepted", ["app", "transport"], registry=r
        )
        self.messages_received = Counter(
            "roomkey_messages_received",
            "Requests received from clients over the sockets",
            ["transport", "type"],
            registry=r,
        )
        self.messages_delivered = Counter(
            "roomkey_messages_delivered",
            "Messages handed to local subscribers (one per recipient)",
            ["app"],
            registry=r,
        )
        self.fanout_seconds = Histogram(
            "roomkey_fanout_seconds",
            "Time to hand one message to this node's subscribers of its channel",
            registry=r,
            buckets=_FAST_BUCKETS,
        )
        self.authorize_results = Counter(
            "roomkey_authorize_results",
            "Authorize endpoint answers by result (ok or the refusal reason)",
            ["endpoint", "result"],
            registry=r,
        )
        self.rest_requests = Counter(
            "roomkey_rest_requests", "REST API requests", ["route", "status"], registry=r
        )
        self.refusals = Counter(
            "roomkey_refusals",
            "Refused requests by what and reason",
            ["what", "reason"],
            registry=r,
        )
        self.identity_refusals = Counter(
            "roomkey_identity_refusals",
            "Credentials an identity source refused (or the app's endpoint failed on), by "
            "source and reason",
            ["source", "reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "roomkey_rate_limited", "Requests refused by a rate limit", ["limit"], registry=r
        )
        self.quota_refusals = Counter(
            "roomkey_quota_refusals",
            "Requests refused by a quota or size limit",
            ["what", "reason"],
            registry=r,
        )
        self.slow_consumer_disconnects = Counter(
            "roomkey_slow_consumer_disconnects",
            "Connections closed because their outbound buffer overflowed",
            ["transport"],
            registry=r,
        )
        self.authorization_timeouts = Counter(
            "roomkey_authorization_timeouts",
            "Connections closed for not authorizing within authorized_connections_timeout",
            ["app"],
            registry=r,
        )
        self.webhook_queue_depth = Gauge(
            "roomkey_webhook_queue_depth", "Webhook events waiting to be sent", registry=r
        )
        self.webhook_retries = Counter(
            "roomkey_webhook_retries", "Webhook deliveries retried", registry=r
        )
        self.webhook_drops = Counter(
            "roomkey_webhook_drops",
            "Webhook events dropped (queue full or retries exhausted)",
            ["cause"],
            registry=r,
        )
        self.hook_queue_depth = Gauge(
            "roomkey_hook_queue_depth", "In-process hook events waiting to run", registry=r
        )
        self.hook_drops = Counter(
            "roomkey_hook_drops",
            "In-process hook events dropped because a hook queue was full",
            registry=r,
        )
        self.hook_failures = Counter(
            "roomkey_hook_failures",
            "In-process hook calls that raised (error) or ran past hooks.timeout_seconds",
            ["kind", "cause"],
            registry=r,
        )
        self.event_loop_lag_seconds = Gauge(
            "roomkey_event_loop_lag_seconds",
            "Last measured event-loop scheduling delay",
            registry=r,
        )
        self.event_loop_lag = Histogram(
            "roomkey_event_loop_lag",
            "Event-loop scheduling delay in seconds",
            registry=r,
            buckets=_FAST_BUCKETS,
        )

    def watch_connections(self, source: Callable[[], Iterable[Connection]]) -> None:
        """Where the live gauges read open connections from (the hub's table)."""
        self._live.source = source

    def watch_broker(self, stats: Callable[[], BrokerStats]) -> None:
        """Where the broker families (reconnects, malformed drops, lag) are read from."""
        self._live.broker_stats = stats

    def watch_rate_limiter(self, failures: Callable[[], int]) -> None:
        """Where ``roomkey_rate_limiter_failures_total`` reads its count from."""
        self._live.limiter_failures = failures

    def count(self, metric: Counter, *labels: str) -> None:
        """``metric.labels(*labels).inc()`` for hot paths: a plain integer per label set,
        added to the counter when the metrics are collected (no label parsing, no lock per
        call; label values here come from small fixed sets: transports, reasons, kinds)."""
        key = (metric, labels)
        pending = self._pending
        pending[key] = pending.get(key, 0) + 1

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for (metric, labels), n in pending.items():
            child_key = (id(metric), *labels)
            child = self._children.get(child_key)
            if child is None:
                child = self._children[child_key] = metric.labels(*labels)
            child.inc(n)

    def timed_delivery(
        self, deliver: DeliveryHandler, recipients: Callable[[str, str, str | None], int]
    ) -> DeliveryHandler:
        """Wrap the hub's local delivery: fan-out time, and messages delivered counted with
        ``recipients(app_id, channel, exclude)``."""

        def handler(app_id: str, message: Any, exclude: str | None) -> None:
            start = time.perf_counter()
            deliver(app_id, message, exclude)
            self.fanout_seconds.observe(time.perf_counter() - start)
            n = recipients(app_id, message.channel, exclude)
            if n > 0:
                self.messages_delivered.labels(app_id).inc(n)

        return handler

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def refused(self, what: str, exc: RoomkeyError) -> None:
        """Count a refusal; rate limits and quotas also in their own families."""
        self.refusals.labels(what, exc.reason).inc()
        if isinstance(exc, RateLimited):
            self.rate_limited.labels(exc.limit or what).inc()
        elif isinstance(exc, OverQuota | LimitExceeded | PayloadTooLarge):
            self.quota_refusals.labels(what, exc.reason).inc()

    def identity_refused(self, source: str, reason: str) -> None:
        """One refusal of an identity source (``bearer``, ``session``, ``app``); ``reason``
        is the error's reason, or for the app's endpoint its failure's cause."""
        self.count(self.identity_refusals, source, reason)

    def observe_rest(self, route: str, status: int) -> None:
        """The REST edge calls this once per request; ``route`` is the route template
        (``/apps/{id}/events``), never the raw path."""
        self.rest_requests.labels(route, str(status)).inc()

    async def measure_event_loop(self, interval: float = 0.5) -> None:
        """Run forever (an owned task): how late a sleep of ``interval`` seconds wakes."""
        while True:
            start = time.perf_counter()
            await asyncio.sleep(interval)
            lag = max(0.0, time.perf_counter() - start - interval)
            self.event_loop_lag_seconds.set(lag)
            self.event_loop_lag.observe(lag)
