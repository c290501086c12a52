"""Fixed-window counters in Redis, shared by every node; one atomic Lua script per hit."""

from __future__ import annotations

import logging

from redis.exceptions import ResponseError

from roomkey.config import RedisSettings
from roomkey.ratelimit.base import Decision, RateLimiter
from roomkey.redis_client import REDIS_FAILURES, answer_kind, open_redis
from roomkey.redis_keys import RedisKeys

log = logging.getLogger("roomkey.ratelimit")

# KEYS[1]: the window's counter. ARGV[1]: limit (hits), ARGV[2]: window (milliseconds).
# Returns -1 when the hit was counted, else the window's remaining milliseconds. A refused
# hit is not counted. The counter expires with its window, so Redis holds live windows only.
HIT_SCRIPT = """
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return ttl
end
if redis.call('INCR', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return -1
"""


class RedisRateLimiter(RateLimiter):
    """Keys are ``{prefix}:rate:{key}`` (``redis_keys.py``; ``key`` names a window, as
    ``redis_keys.rate_window`` builds it). A Redis failure or timeout allows the hit (the
    limiter must not take the service down with it), is counted in ``failures`` and logged
    once per outage."""

    def __init__(
        self, redis: str | RedisSettings, *, prefix: str | None = None, timeout: float = 2.0
    ) -> None:
        """``redis``: the ``[redis]`` settings (any topology; their prefix and operation
        timeout unless given here), or the URL of one Redis."""
        if isinstance(redis, str):
            redis = RedisSettings(url=redis, operation_timeout_seconds=timeout)
        elif prefix is None:
            prefix = redis.prefix
        self._client = open_redis(redis, name="roomkey-ratelimit")
        self._keys = RedisKeys(prefix if prefix is not None else redis.prefix)
        self._script = self._client.register_script(HIT_SCRIPT)
        self._failures = 0
        self._failing = False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self._client.aclose()

    @property
    def failures(self) -> int:
        return self._failures

    async def hit(self, key: str, limit: int, window: float) -> Decision:
        try:
            result = await self._script(
                keys=[self._keys.rate(key)], args=[limit, max(1, int(window * 1000))]
            )
        except REDIS_FAILURES as exc:
            self._failures += 1
            if not self._failing:
                self._failing = True
                # A refusal (WRONGTYPE, NOPERM) is named as one: it will not pass by itself.
                why = (
                    f"redis refused the command ({answer_kind(exc)})"
                    if isinstance(exc, ResponseError)
                    else f"redis unavailable ({type(exc).__name__})"
                )
                log.warning("rate limits not enforced: %s", why)
            return Decision(True)
        if self._failing:
            self._failing = False
            log.warning("rate limits enforced again: redis is back")
        ttl = int(result)
        if ttl < 0:
            return Decision(True)
        return Decision(False, ttl / 1000)
