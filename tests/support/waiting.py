"""The one way tests wait: ``roomkey.testing.waiting`` (the kit applications use), re-exported
where roomkey's own tests have always imported it from."""

from __future__ import annotations

from roomkey.testing.waiting import (
    DEFAULT_TIMEOUT_S,
    POLL_INTERVAL_S,
    wait_for_condition,
    wait_for_condition_blocking,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "POLL_INTERVAL_S",
    "wait_for_condition",
    "wait_for_condition_blocking",
]
