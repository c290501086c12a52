"""roomkey.tasks: a timeout that keeps a cancellation meeting a result, and a cancel-and-wait
that outlasts a task swallowing its first cancellation (what hung shutdowns on Python 3.11)."""

from __future__ import annotations

import asyncio

import pytest

from roomkey.tasks import OwnedTasks, cancel_and_wait, within


async def test_within_keeps_a_cancellation_that_meets_a_result() -> None:
    loop = asyncio.get_running_loop()
    result: asyncio.Future[int] = loop.create_future()
    waiter = asyncio.create_task(within(result, 10))
    await asyncio.sleep(0)  # the waiter now awaits the future
    result.set_result(1)
    waiter.cancel()  # at the same moment: asyncio.wait_for on 3.11 would return 1
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_within_times_out() -> None:
    with pytest.raises(TimeoutError):
        await within(asyncio.Event().wait(), 0.01)


async def test_cancel_and_wait_outlasts_a_swallowed_cancellation() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # a library lost the cancellation: the loop goes on
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await cancel_and_wait([task], give_up_after=10)
    assert swallowed.is_set()
    assert task.cancelled()


async def test_cancel_and_wait_gives_up_after_its_bound(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def immortal() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(immortal())
    await asyncio.sleep(0)
    await cancel_and_wait([task], give_up_after=0.05)
    assert not task.done()
    assert "still running after cancellation: 1" in caplog.text
    release.set()
    await task


async def test_owned_tasks_close_cancels_and_forgets() -> None:
    owned = OwnedTasks()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = owned.spawn(forever(), name="forever")
    await started.wait()
    assert len(owned) == 1 and task.get_name() == "forever"
    await owned.close()
    assert task.cancelled()
    assert len(owned) == 0
