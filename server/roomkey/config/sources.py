"""Where settings come from besides the TOML file: ``ROOMKEY_...`` environment variables.

A variable ``ROOMKEY_<TABLE>__<KEY>`` (parts joined by a double underscore, any case) sets
that key, over what the file says: ``ROOMKEY_SERVER__PORT=7000`` is ``[server] port = 7000``,
``ROOMKEY_REDIS__URL`` is ``redis.url``, ``ROOMKEY_APPS__0__SECRET`` the secret of the first
``[[apps]]`` (arrays of tables by index from 0; the next index adds one, so a file may hold
no app at all), ``ROOMKEY_APPS__0__LIMITS__MAX_CONNECTIONS`` a key of its sub-table.
``ROOMKEY_APPS__0__SECRET_FILE=/run/secrets/app`` names a file holding the value instead
(``table.TableReader``). A variable replaces both forms of its key in the file (``secret``
and ``secret_file``). Its text is read by the setting's type (``table.ExternalText``), and a
problem with it names the variable.

Variables without a double underscore after the prefix (``ROOMKEY_DRIVER``...) are not
settings and are left alone; a setting name that does not exist is reported as an unknown
setting, as in the file.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from roomkey.config.table import FILE_SUFFIX, ExternalText

PREFIX = "ROOMKEY_"
SEPARATOR = "__"

# Keys whose values ``roomkey check-config`` never shows (URLs are shown without password).
SECRET_KEYS = frozenset({"secret", "encryption_master_key", "public_key"})


class _EnvTable(dict[str, Any]):
    """A table that only an environment variable's path made (not in the file): an unknown
    key in it is reported with ``origin``, the variable."""

    def __init__(self, origin: str) -> None:
        super().__init__()
        self.origin = origin


class _EnvArray(list[Any]):
    """An array of tables that only an environment variable's path made."""

    def __init__(self, origin: str) -> None:
        super().__init__()
        self.origin = origin


def environment_settings(environ: Mapping[str, str]) -> dict[str, list[str]]:
    """The variables of ``environ`` that name a setting, each with its key path
    (lower-cased parts)."""
    found = {}
    for var in sorted(environ):
        rest = var[len(PREFIX) :] if var.upper().startswith(PREFIX) else ""
        if SEPARATOR in rest:
            found[var] = [part.lower() for part in rest.split(SEPARATOR)]
    return found


def apply_environment(data: object, environ: Mapping[str, str], errors: list[str]) -> object:
    """A copy of ``data`` (parsed TOML) with every ``ROOMKEY_...`` setting of ``environ``
    put in as ``ExternalText``; a variable that cannot be placed is an error."""
    found = environment_settings(environ)
    if not found or not isinstance(data, Mapping):
        return data
    merged: dict[str, Any] = copy.deepcopy(dict(data))
    for var, parts in found.items():
        problem = _place(merged, parts, ExternalText(environ[var], f"env {var}"))
        if problem:
            errors.append(f"{var}: {problem}")
    return merged


def _place(root: dict[str, Any], parts: list[str], value: ExternalText) -> str | None:
    if any(not part for part in parts):
        return "empty name part (a triple underscore?)"
    node: Any = root
    for i, (part, following) in enumerate(itertools.pairwise(parts)):
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit():
                return (
                    f"{'.'.join(parts[:i])} is an array of tables: expected an index, not {part!r}"
                )
            index = int(part)
            if index > len(node):
                return f"index {index} leaves a gap ({len(node)} item(s) before it)"
            if index == len(node):
                node.append(_EnvTable(value.origin))
            child = node[index]
        else:
            child = node.get(part)
            if child is None:
                child = _EnvArray(value.origin) if following.isdigit() else _EnvTable(value.origin)
                node[part] = child
        if not isinstance(child, Mapping | list):
            return f"{where} is a value, not a table"
        node = child
    if not isinstance(node, dict):
        return f"{'.'.join(parts[:-1])} is an array of tables: name an index"
    last = parts[-1]
    node[last] = value
    twin = last.removesuffix(FILE_SUFFIX) if last.endswith(FILE_SUFFIX) else last + FILE_SUFFIX
    node.pop(twin, None)
    return None


def redacted_url(url: str) -> str:
    """``url`` with its password (if any) shown as ``***``: safe to log or print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def shown_value(path: str, value: object) -> str:
    """How ``check-config`` shows a setting's value: secrets never, URLs without password."""
    key = path.rsplit(".", 1)[-1].removesuffix(FILE_SUFFIX)
    if key in SECRET_KEYS or "secret" in key or "password" in key:
        return "(secret, not shown)"
    if isinstance(value, str) and "://" in value:
        return redacted_url(value)
    return repr(value)
