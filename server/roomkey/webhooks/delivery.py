"""Sending one batch of webhook events to one target, as Pusher does: ``POST``
``{"time_ms", "events": [...]}`` with ``X-Pusher-Key`` and ``X-Pusher-Signature`` =
HMAC-SHA256(app secret, the exact body bytes). Redirects are never followed: only the
configured URL ever receives a webhook. A non-2xx answer, a timeout or a connection error is
retried with capped exponential backoff and full jitter until ``retry_for_seconds`` have
passed; then the batch is given up (``failed``, ``roomkey_webhook_drops_total{cause=
"retries_exhausted"}``), logged once per run of failures of that target.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

import aiohttp

from roomkey.config import AppSettings, WebhookSettings, WebhookTarget
from roomkey.core.protocol import dumps
from roomkey.core.signing import webhook_signature
from roomkey.logs import log_event
from roomkey.metrics import Metrics

log = logging.getLogger("roomkey.webhooks")

BASE_BACKOFF_SECONDS = 0.5


def webhook_body(events: list[dict[str, Any]], time_ms: int) -> bytes:
    """The exact bytes sent (and signed)."""
    return dumps({"time_ms": time_ms, "events": events}).encode()


def backoff_delay(attempt: int, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): full jitter over
    ``min(cap, base * 2**(attempt-1))``, never below a tenth of that ceiling."""
    ceiling = min(cap, BASE_BACKOFF_SECONDS * 2.0 ** min(attempt - 1, 30))
    return ceiling * (0.1 + 0.9 * rng())


class WebhookSender:
    """POSTs batches with retries. ``open()`` before use, ``close()`` at shutdown."""

    def __init__(self, settings: WebhookSettings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self._metrics = metrics
        self._session: aiohttp.ClientSession | None = None
        self._failing: set[str] = set()
        self.delivered = 0  # batches a target accepted (2xx)
        self.failed = 0  # batches given up after retry_for_seconds

    def open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
            trust_env=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, app: AppSettings, target: WebhookTarget, body: bytes, events: int) -> bool:
        """Deliver one batch of ``events`` events, retrying until ``retry_for_seconds``.
        True when the target accepted it, False when it was given up."""
        headers = {
            "Content-Type": "application/json",
            "X-Pusher-Key": app.key,
            "X-Pusher-Signature": webhook_signature(app.secret, body),
        }
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.settings.retry_for_seconds
        attempt = 0
        while True:
            attempt += 1
            problem = await self._post(target.url, body, headers)
            if problem is None:
                self.delivered += 1
                if target.url in self._failing:
                    self._failing.discard(target.url)
                    log_event(log, logging.INFO, "webhook target recovered", app=app.id)
                return True
            delay = backoff_delay(attempt, self.settings.max_backoff_seconds)
            if loop.time() + delay > give_up_at:
                break
            await asyncio.sleep(delay)
            if self._metrics is not None:
                self._metrics.webhook_retries.inc()
        self.failed += 1
        if self._metrics is not None:
            self._metrics.webhook_drops.labels("retries_exhausted").inc(events)
        if target.url not in self._failing:
            self._failing.add(target.url)
            # The URL may carry a token in its query: log the app and the problem only.
            log_event(
                log,
                logging.WARNING,
                "webhook batch given up",
                app=app.id,
                problem=problem,
                attempts=attempt,
            )
        return False

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """None when the target accepted the batch, else what went wrong."""
        if self._session is None:
            return "not started"
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                if 200 <= resp.status < 300:
                    return None
                return f"status {resp.status}"
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError as exc:
            return type(exc).__name__
