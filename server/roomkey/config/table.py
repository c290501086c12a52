"""Typed, path-aware reading of one TOML table, collecting every error instead of stopping.

``TableReader(path, table, errors)`` reads keys with defaults and records problems as
``"apps[0].secret: must be a non-empty string"``. Unknown keys are reported too, so a typo never
silently becomes a default. ``ConfigError`` carries every problem out of ``parse_settings``.

Generic on purpose: nothing here knows roomkey's settings (``sections`` drives a reader from
the settings dataclasses), so this module imports nothing of roomkey's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` lists every problem with its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class TableReader:
    """One table at ``path`` (``""`` for the top level, ``"apps[0].limits"``...). Every reading
    method returns the key's value, or ``default`` when the key is absent or its value is
    wrong (the problem is then appended to ``errors``); ``finish`` reports the keys no method
    asked for."""

    def __init__(self, path: str, table: object, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        self.seen: set[str] = set()
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            self.error("", "must be a table")
            table = {}
        self.table: Mapping[str, Any] = table

    def given(self, key: str) -> bool:
        """True when the table holds a value for ``key`` (read or not)."""
        return self.table.get(key) is not None

    def where(self, key: str) -> str:
        if not key:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        self.errors.append(f"{self.where(key)}: {message}")

    def _get(self, key: str) -> Any:
        self.seen.add(key)
        return self.table.get(key)

    def text(
        self, key: str, default: str, *, required: bool = False, choices: tuple[str, ...] = ()
    ) -> str:
        value = self._get(key)
        if value is None:
            if required:
                self.error(key, "is required")
            return default
        if not isinstance(value, str):
            self.error(key, "must be a string")
            return default
        if required and not value:
            self.error(key, "must be a non-empty string")
        if choices and value not in choices:
            self.error(key, f"must be one of {', '.join(choices)}")
            return default
        text: str = value
        return text

    def integer(
        self, key: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, "must be an integer")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            self.error(key, f"must be at least {minimum}{upper}")
            return default
        return value

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(key, "must be a number")
            return default
        if value < minimum:
            self.error(key, f"must be at least {minimum}")
            return default
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, "must be true or false")
            return default
        return value

    def str_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(key, "must be a list of strings")
            return default
        return tuple(value)

    def str_map(self, key: str) -> dict[str, str]:
        value = self._get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str | int | bool) for v in value.values()
        ):
            self.error(key, "must be a table of strings")
            return {}
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}

    def sub(self, key: str) -> TableReader:
        return TableReader(self.where(key), self._get(key), self.errors)

    def array(self, key: str) -> list[TableReader]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(key, "must be an array of tables")
            return []
        return [
            TableReader(f"{self.where(key)}[{i}]", item, self.errors)
            for i, item in enumerate(value)
        ]

    def finish(self) -> None:
        """Report keys that were present but never read."""
        for key in self.table:
            if key not in self.seen:
                self.error(key, "unknown setting")
