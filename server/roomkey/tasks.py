"""Owned background tasks: timeouts that never lose a cancellation, and a cancel-and-wait that
a task cannot outlive.

Why: on Python 3.11, ``asyncio.wait_for`` returns the inner result when the outer task is
cancelled at the moment the inner awaitable completes, so the cancellation is lost. A loop that
should stop (a Redis listener, a heartbeat) then runs on, and a shutdown that waits for it
hangs. roomkey therefore never uses ``wait_for``: ``within`` is ``asyncio.timeout`` underneath
(which counts cancellations), and ``cancel_and_wait`` cancels again until the task has ended,
for a bounded time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("roomkey.tasks")

# How long a shutdown waits for a cancelled task to end before it gives up on it (and says so).
CANCEL_TIMEOUT_SECONDS = 5.0


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``seconds`` (the awaitable is
    cancelled then). A cancellation of the caller is never swallowed."""
    async with asyncio.timeout(seconds):
        return await awaitable


async def cancel_and_wait(
    tasks: Iterable[asyncio.Task[Any]], *, give_up_after: float = CANCEL_TIMEOUT_SECONDS
) -> None:
    """Cancel ``tasks`` and wait until each has ended, cancelling again while one goes on (a
    cancellation a library swallowed), for at most ``give_up_after`` seconds; a task still running
    then is logged once and left behind. Exceptions the tasks ended with are retrieved (they
    were the tasks' own business), so none is reported as "never retrieved"."""
    every = list(tasks)
    pending = {task for task in every if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_after
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("tasks still running after cancellation: %d", len(pending))
            break
        _, pending = await asyncio.wait(pending, timeout=min(remaining, 0.5))
    for task in every:
        if task.done() and not task.cancelled():
            task.exception()


class OwnedTasks:
    """The background tasks one component started: ``spawn`` keeps a reference until the task
    ends (so it is never garbage-collected mid-flight), ``close`` cancels and awaits them all
    (``cancel_and_wait``)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str | None = None) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        if name is not None:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Any:
        return iter(list(self._tasks))

    async def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the tasks running now to end on their own."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=seconds)

    async def close(self, *, give_up_after: float = CANCEL_TIMEOUT_SECONDS) -> None:
        await cancel_and_wait(list(self._tasks), give_up_after=give_up_after)
