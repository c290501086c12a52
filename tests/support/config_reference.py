"""docs/config.md's list of every setting, rendered from the settings dataclasses, so that
the page cannot drift from them (tests/unit/test_docs.py compares). After adding a setting:

    PYTHONPATH=server python -m tests.support.config_reference   # rewrites the list in place
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import MISSING
from typing import Any, get_args, get_type_hints

from roomkey.config import Settings
from tests.support.paths import DOCS_DIR

CONFIG_MD = DOCS_DIR / "config.md"
START = "<!-- settings-reference:start -->"
END = "<!-- settings-reference:end -->"

_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _type_name(hint: Any, name: str) -> str:
    if hint in _TYPES:
        return _TYPES[hint]
    if hint == tuple[str, ...]:
        return "list of strings"
    if name in ("encryption_master_key", "secret_key"):
        return "string (32 bytes, base64)"
    if name == "claims":
        return "table of strings"
    raise AssertionError(f"no documented type for {name}: {hint}")


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is MISSING and f.default_factory is MISSING:
        return "required"
    value: Any = f.default
    if f.default_factory is not MISSING:
        value = f.default_factory()
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    return f"`{value}`"


def _tables() -> list[tuple[str, type]]:
    """Every table path and its dataclass, in the order of ``Settings``."""
    found: list[tuple[str, type]] = []

    def walk(path: str, cls: type) -> None:
        found.append((path, cls))
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            args = get_args(hint)
            item = args[0] if args and args[-1] is Ellipsis else hint
            if dataclasses.is_dataclass(item) and isinstance(item, type):
                walk(f"{path}.{f.name}" if path else f.name, item)

    walk("", Settings)
    return found[1:]


def table_keys() -> dict[str, list[str]]:
    """Table path -> its keys (sub-tables left out)."""
    keys = {}
    for path, cls in _tables():
        hints = get_type_hints(cls)
        keys[path] = [f.name for f in dataclasses.fields(cls) if not _is_table(hints[f.name])]
    return keys


def _is_table(hint: Any) -> bool:
    args = get_args(hint)
    item = args[0] if args and args[-1] is Ellipsis else hint
    return dataclasses.is_dataclass(item) and isinstance(item, type)


def render() -> str:
    """The list, between its markers."""
    array_tables = {"apps", "apps.rules", "apps.webhooks"}
    lines = [START, ""]
    for path, cls in _tables():
        header = f"[[{path}]]" if path in array_tables else f"[{path}]"
        lines += [f"`{header}`", "", "| key | type | default |", "|---|---|---|"]
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if _is_table(hints[f.name]):
                continue
            lines.append(f"| `{f.name}` | {_type_name(hints[f.name], f.name)} | {_default(f)} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def current() -> str:
    """The list as docs/config.md has it now."""
    text = CONFIG_MD.read_text(encoding="utf-8")
    return START + text.split(START, 1)[1].split(END, 1)[0] + END


def main() -> int:
    text = CONFIG_MD.read_text(encoding="utf-8")
    CONFIG_MD.write_text(text.replace(current(), render()), encoding="utf-8")
    print(f"{CONFIG_MD}: settings reference rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
