"""Typed, path-aware reading of one TOML table, collecting every error instead of stopping.

``TableReader(path, table, errors)`` reads keys with defaults and records problems as
``"apps[0].secret: must be a non-empty string"``. Unknown keys are reported too, so a typo never
silently becomes a default. ``ConfigError`` carries every problem out of ``parse_settings``.

Values from outside the TOML file, read the same way by every section:

- ``ExternalText``: text that stands for a value (an environment variable put into the table
  by ``sources.apply_environment``); a setting that is not a string reads it as a TOML value
  (``7000``, ``true``, ``2.5``, ``["a", "b"]``; a list may also be ``a,b``).
- ``<key>_file``: any key may instead be given as the path of a file holding its value (meant
  for secrets: ``secret_file = "/run/secrets/app"``); the file's text, without its trailing
  newline, is read as ``ExternalText``. It wins over ``<key>`` in the same table.

A problem with such a value says where it came from (``server.port: must be an integer (from
env ROOMKEY_SERVER__PORT)``). With ``sources``, a reader records where each value it read came
from (``{"server.port": "env ROOMKEY_SERVER__PORT"}``): ``roomkey check-config`` shows them.

Generic on purpose: nothing here knows roomkey's settings (``sections`` drives a reader from
the settings dataclasses), so this module imports nothing of roomkey's.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

FILE_SUFFIX = "_file"


class ExternalText(str):
    """Text given for a setting from outside the TOML file; ``origin`` says where
    (``env ROOMKEY_SERVER__PORT``, ``file /run/secrets/app (apps[0].secret_file)``)."""

    origin: str

    def __new__(cls, text: str, origin: str) -> ExternalText:
        value = super().__new__(cls, text)
        value.origin = origin
        return value

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        return (str(self), self.origin)


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

    def __init__(
        self,
        path: str,
        table: object,
        errors: list[str],
        sources: dict[str, str] | None = None,
        origin: str = "",
    ) -> None:
        self.path = path
        self.errors = errors
        self.sources = sources
        self.origin = origin  # where the table's own values come from ("file roomkey.toml")
        self.seen: set[str] = set()
        self.external: dict[str, str] = {}  # key -> origin of a value not from the TOML
        if table is None:
            table = {}
        if not isinstance(table, Mapping):
            self.error("", "must be a table")
            table = {}
        self.table: Mapping[str, Any] = table

    def given(self, key: str) -> bool:
        """True when the table holds a value for ``key`` (read or not), itself or as
        ``<key>_file``."""
        return self.table.get(key) is not None or self.table.get(key + FILE_SUFFIX) is not None

    def where(self, key: str) -> str:
        if not key:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        raw = self.table.get(key) if key else None
        # ExternalText, or a table an environment variable made (``sources``): both say where.
        origin = self.external.get(key) or str(getattr(raw, "origin", ""))
        suffix = f" (from {origin})" if origin else ""
        self.errors.append(f"{self.where(key)}: {message}{suffix}")

    def _get(self, key: str) -> Any:
        self.seen.add(key)
        value = self.table.get(key)
        file_key = key + FILE_SUFFIX
        if not key.endswith(FILE_SUFFIX) and self.table.get(file_key) is not None:
            self.seen.add(file_key)
            value = self._read_file(file_key, self.table[file_key])
        if isinstance(value, ExternalText):
            self.external[key] = value.origin
        if value is not None and self.sources is not None and not _is_table(value):
            self.sources[self.where(key)] = self.external.get(key) or self.origin
        return value

    def _read_file(self, file_key: str, named: object) -> ExternalText | None:
        if not isinstance(named, str) or not named:
            self.error(file_key, "must be the path of a file (a non-empty string)")
            return None
        by = named.origin if isinstance(named, ExternalText) else self.where(file_key)
        try:
            text = Path(named).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            self.error(file_key, f"cannot read {named} ({reason})")
            return None
        return ExternalText(text.rstrip("\r\n"), f"file {named} named by {by}")

    def _typed(self, key: str) -> Any:
        """The value of ``key`` for a setting that is not a string: external text read as a
        TOML value (left as text when it is not one, so that the type check reports it)."""
        value = self._get(key)
        if isinstance(value, ExternalText):
            try:
                return tomllib.loads(f"v = {value}")["v"]
            except tomllib.TOMLDecodeError:
                return str(value)
        return value

    def text(
        self, key: str, default: str, *, required: bool = False, choices: tuple[str, ...] = ()
    ) -> str:
        value = self._get(key)
        if value is None:
            if required and self.table.get(key + FILE_SUFFIX) is None:
                self.error(key, "is required")  # (a file that cannot be read is reported)
            return default
        if not isinstance(value, str):
            self.error(key, "must be a string")
            return default
        if required and not value:
            self.error(key, "must be a non-empty string")
        if choices and value not in choices:
            self.error(key, f"must be one of {', '.join(choices)}")
            return default
        return str(value)

    def integer(
        self, key: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = self._typed(key)
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
        value = self._typed(key)
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
        value = self._typed(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, "must be true or false")
            return default
        return value

    def str_list(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(key)
        if isinstance(value, ExternalText):
            text = value.strip()
            if text.startswith("["):
                value = self._typed(key)
            else:  # a,b,c
                value = [item.strip() for item in text.split(",") if item.strip()]
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(key, "must be a list of strings")
            return default
        return tuple(value)

    def str_map(self, key: str) -> dict[str, str]:
        value = self._typed(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(v, str | int | bool) for v in value.values()
        ):
            self.error(key, "must be a table of strings")
            return {}
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}

    def sub(self, key: str) -> TableReader:
        return TableReader(self.where(key), self._get(key), self.errors, self.sources, self.origin)

    def array(self, key: str) -> list[TableReader]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(key, "must be an array of tables")
            return []
        return [
            TableReader(f"{self.where(key)}[{i}]", item, self.errors, self.sources, self.origin)
            for i, item in enumerate(value)
        ]

    def finish(self) -> None:
        """Report keys that were present but never read."""
        for key in self.table:
            if key not in self.seen:
                self.error(key, "unknown setting")


def _is_table(value: object) -> bool:
    """A table or an array of tables (their values are recorded one by one)."""
    if isinstance(value, Mapping):
        return True
    return isinstance(value, list) and any(isinstance(item, Mapping) for item in value)
