"""Identity from the app itself (``[identity.app]``), for any framework whose sessions roomkey
cannot read (Django, Flask, Rails, Laravel, Koa, ...).

roomkey sends ``GET {url}`` with the request's ``Cookie`` and ``Authorization`` headers and
nothing else of it. A 200 answer ``{"user_id": "...", "user_info": {...}}`` is the identity;
401 or 403 means no identity (anonymous). Each call has a timeout (``timeout_seconds``, which
also bounds the wait for one of ``max_concurrency`` slots), follows no redirect, verifies TLS,
keeps no cookie the app sets and reads at most ``max_answer_bytes``. Anything else fails
closed with ``IdentityUnavailable`` (HTTP 503, Pusher 4200) naming the cause. Answers (200,
401, 403) are kept ``cache_seconds`` keyed by a hash of the forwarded headers
(``answer_cache``); failures are never kept, so the next request asks again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from roomkey.config import AppIdentitySettings
from roomkey.core.errors import IdentityUnavailable
from roomkey.identity.answer_cache import AnswerCache, credentials_key
from roomkey.identity.base import Identity, scalar_user_id

FORWARDED_HEADERS = ("Cookie", "Authorization")
NO_IDENTITY_STATUSES = (401, 403)


class AppIdentitySource:
    def __init__(
        self, settings: AppIdentitySettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._cache = AnswerCache(settings.cache_seconds, settings.cache_size, clock)
        self._slots = asyncio.Semaphore(settings.max_concurrency)
        self._client: aiohttp.ClientSession | None = None

    async def identify(self, headers: Mapping[str, str]) -> Identity | None:
        """Who the app says sent ``headers`` (only ``FORWARDED_HEADERS`` of them are used):
        an identity, None for no identity (401/403, or no such header), or
        ``IdentityUnavailable``."""
        forwarded = {name: headers[name] for name in FORWARDED_HEADERS if headers.get(name)}
        if not forwarded:
            return None
        key = credentials_key(forwarded)
        hit, cached = self._cache.get(key)
        if hit:
            return cached
        answer = await self._ask(forwarded)
        self._cache.put(key, answer)
        return answer

    async def _ask(self, forwarded: dict[str, str]) -> Identity | None:
        s = self._settings
        try:
            async with asyncio.timeout(s.timeout_seconds), self._slots:
                async with self._open().get(
                    s.url,
                    headers={**forwarded, "Accept": "application/json"},
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    if status in NO_IDENTITY_STATUSES:
                        return None
                    if 300 <= status < 400:
                        raise IdentityUnavailable(
                            f"the app's identity endpoint redirected ({status}); "
                            "redirects are not followed",
                            cause="redirect",
                        )
                    if status != 200:
                        raise IdentityUnavailable(
                            f"the app's identity endpoint answered {status}", cause="status"
                        )
                    body = await _bounded_body(resp, s.max_answer_bytes)
        except TimeoutError:
            raise IdentityUnavailable(
                "the app's identity endpoint did not answer within identity.app.timeout_seconds",
                cause="timeout",
            ) from None
        except aiohttp.ClientError as exc:
            raise IdentityUnavailable(
                f"the app's identity endpoint cannot be reached ({type(exc).__name__})",
                cause="unreachable",
            ) from None
        return answer_identity(body, forwarded)

    def _open(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                # No cookie the app sets is kept (one user's would go to the next).
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                connector=aiohttp.TCPConnector(limit=self._settings.max_concurrency),
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout_seconds),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


async def _bounded_body(resp: aiohttp.ClientResponse, most: int) -> bytes:
    body = bytearray()
    async for chunk in resp.content.iter_chunked(8192):
        body += chunk
        if len(body) > most:
            raise IdentityUnavailable(
                f"the app's identity answer is larger than identity.app.max_answer_bytes ({most})",
                cause="bad_answer",
            )
    return bytes(body)


def answer_identity(body: bytes, credentials: Mapping[str, str]) -> Identity:
    """The identity of a 200 answer: a JSON object with a scalar ``user_id`` (a non-empty
    string or an integer) and an optional ``user_info`` object (null: none); ``IdentityUnavailable``
    (cause ``bad_answer``) otherwise. ``credentials`` re-ask the app later."""
    try:
        answer: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        answer = None
    user_id = scalar_user_id(answer.get("user_id")) if isinstance(answer, dict) else None
    info = answer.get("user_info") if isinstance(answer, dict) else None
    if info is None:
        info = {}
    if user_id is None or not isinstance(info, dict):
        raise IdentityUnavailable(
            'the app\'s identity answer is not {"user_id": ..., "user_info": {...}}',
            cause="bad_answer",
        )
    return Identity(
        user_id=user_id,
        user_info=info,
        claims=dict(info),
        source="app",
        credentials=dict(credentials),
    )
