"""Garbage-collector tuning for a long-lived fan-out process (``[performance]`` settings).

A full collection walks every tracked object; with thousands of connections that pause lands
on whichever delivery is in flight and shows up as the tail latency of a broadcast. Freezing
the start-up heap and raising the thresholds makes collections rarer and shorter. Both are
process-wide, so ``apply`` returns the function that puts the previous state back.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from roomkey.config import PerformanceSettings


def apply(settings: PerformanceSettings) -> Callable[[], None]:
    """Set the thresholds and, if configured, freeze the heap alive now. Returns ``restore``,
    which sets the previous thresholds back and unfreezes what this call froze."""
    previous = gc.get_threshold()
    gc.set_threshold(settings.gc_threshold0, settings.gc_threshold1, settings.gc_threshold2)
    froze = False
    if settings.gc_freeze and gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
        froze = True

    def restore() -> None:
        gc.set_threshold(*previous)
        if froze:
            gc.unfreeze()

    return restore
