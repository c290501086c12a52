"""The one way tests wait: until a condition holds, or fail at a deadline.

A test never sleeps for a fixed time hoping something happened; it asks the question again
every ``interval`` seconds until the answer is yes, and fails with what it waited for once
``timeout`` seconds have passed. Timeouts are generous on purpose (a busy CI machine): they
bound a failing test, they are not what the test asserts.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["DEFAULT_TIMEOUT_S", "wait_for_condition", "wait_for_condition_blocking"]

DEFAULT_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.02

Check = Callable[[], object | Awaitable[object]]


async def wait_for_condition(
    check: Check,
    what: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = POLL_INTERVAL_S,
) -> None:
    """Return once ``check()`` is truthy; ``check`` may be a plain function or return an
    awaitable (awaited each time). Raises ``AssertionError`` naming ``what`` when it is
    still falsy after ``timeout`` seconds (checked at least once, and once at the end)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answer = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


def wait_for_condition_blocking(
    check: Callable[[], object],
    what: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    interval: float = POLL_INTERVAL_S,
) -> None:
    """``wait_for_condition`` for code that runs outside an event loop (fixtures that start
    processes, Playwright's sync API): the same contract, and it blocks the thread."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
