"""Drops logged once per burst: a bounded queue that refuses items says so once when it
starts refusing and once when it accepts again, with how many it refused in between."""

from __future__ import annotations

import logging
from typing import Any

from roomkey.logs.records import log_event


class DropBursts:
    """Counts items ``what`` (e.g. "webhook queue") refused. The first drop of a burst logs
    ``{what} full: dropping events`` (with ``fields``); the next accepted item after a burst
    logs ``{what} accepting again`` with the burst's count and the running total."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._dropping = False
        self._burst = 0
        self.total = 0

    def dropped(self, count: int = 1, **fields: Any) -> None:
        self.total += count
        self._burst += count
        if not self._dropping:
            self._dropping = True
            log_event(self._log, logging.WARNING, f"{self._what} full: dropping events", **fields)

    def accepted(self) -> None:
        if self._dropping:
            self._dropping = False
            log_event(
                self._log,
                logging.WARNING,
                f"{self._what} accepting again",
                dropped=self._burst,
                dropped_total=self.total,
            )
            self._burst = 0
