"""Section readers are generated from the settings dataclasses: every field of every table is
read by its type, with its spec, and a setting declared in one line is read like the others."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from roomkey.config import (
    AppSettings,
    ConfigError,
    RuleSettings,
    Settings,
    WebhookTarget,
    parse_settings,
)
from roomkey.config.sections import read_section
from roomkey.config.table import TableReader
from roomkey.config.values import setting, url_path

APP: dict[str, object] = {"id": "1", "key": "k", "secret": "s" * 16}
# A valid table for each array of tables, to which one wrong value is added.
VALID_ITEM: dict[type, dict[str, object]] = {
    AppSettings: APP,
    RuleSettings: {"pattern": "private-*"},
    WebhookTarget: {"url": "https://example.com/hook"},
}

# A value of the wrong type for each field type, and what the error says about it.
WRONG: dict[object, tuple[object, str]] = {
    str: (5, "must be a string"),
    int: ("5", "must be an integer"),
    float: ("5", "must be a number"),
    bool: ("yes", "must be true or false"),
    tuple[str, ...]: ("x", "must be a list of strings"),
    tuple[tuple[str, str], ...]: ("x", "must be a table of strings"),
    bytes | None: (5, "must be a string"),
}


def _is_table(hint: Any) -> bool:
    return dataclasses.is_dataclass(hint) and isinstance(hint, type)


def _is_array(hint: Any) -> bool:
    args = get_args(hint)
    return get_origin(hint) is tuple and args[-1] is Ellipsis and _is_table(args[0])


def _tables(cls: type, path: str = "") -> list[tuple[str, type]]:
    """Every table a config file can hold, found from the dataclasses (so that a new one is
    covered here without a change): (path as errors name it, its dataclass)."""
    found = [(path, cls)]
    for name, hint in get_type_hints(cls).items():
        sub = f"{path}.{name}" if path else name
        if _is_table(hint):
            found += _tables(hint, sub)
        elif _is_array(hint):
            found += _tables(get_args(hint)[0], f"{sub}[0]")
    return found


def _with_value(path: str, key: str, value: object) -> dict[str, Any]:
    """The minimal valid file, with ``key = value`` in the table at ``path``."""
    data: dict[str, Any] = {"apps": [dict(APP)]}
    table = data
    cls: type = Settings
    for part in path.split(".") if path else []:
        name, _, index = part.partition("[")
        hint = get_type_hints(cls)[name]
        if index:
            cls = get_args(hint)[0]
            items = table.setdefault(name, [dict(VALID_ITEM[cls])])
            table = items[0]
        else:
            cls = hint
            table = table.setdefault(name, {})
    table[key] = value
    return data


def _fields() -> list[tuple[str, str, object]]:
    return [
        (path, name, hint)
        for path, cls in _tables(Settings)
        for name, hint in get_type_hints(cls).items()
    ]


@pytest.mark.parametrize(("path", "key", "hint"), _fields())
def test_every_setting_is_read_with_its_type(path: str, key: str, hint: object) -> None:
    wrong: object
    if _is_table(hint):
        wrong, message = 3, "must be a table"
    elif _is_array(hint):
        wrong, message = 3, "must be an array of tables"
    else:
        wrong, message = WRONG[hint]
    with pytest.raises(ConfigError) as err:
        parse_settings(_with_value(path, key, wrong))
    where = f"{path}.{key}" if path else key
    assert f"{where}: {message}" in err.value.errors


@pytest.mark.parametrize(("path", "cls"), _tables(Settings))
def test_every_table_reports_unknown_keys(path: str, cls: type) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(_with_value(path, "colour", "red"))
    where = f"{path}.colour" if path else "colour"
    assert err.value.errors == [f"{where}: unknown setting"]


# -- the generic reader on a section declared here ----------------------------------------


@dataclass(frozen=True)
class Example:
    path: str = field(metadata=setting(check=url_path))
    port: int = field(default=1, metadata=setting(maximum=9))
    ratio: float = field(default=0.5, metadata=setting(minimum=0.25))
    mode: str = field(default="a", metadata=setting(choices=("a", "b")))
    tags: tuple[str, ...] = ()
    on: bool = False


def _read(table: dict[str, object]) -> tuple[Example, list[str]]:
    errors: list[str] = []
    return read_section(TableReader("example", table, errors), Example), errors


def test_a_section_is_read_from_its_declaration_alone() -> None:
    table = {"path": "/x", "port": 9, "ratio": 1, "mode": "b", "tags": ["t"], "on": True}
    assert _read(table) == (Example("/x", 9, 1.0, "b", ("t",), True), [])


def test_each_problem_has_its_path_and_a_wrong_value_its_default() -> None:
    value, errors = _read({"port": 10, "ratio": 0.1, "mode": "c", "tags": "t", "on": 1, "extra": 0})
    assert errors == [
        "example.path: is required",
        "example.port: must be at least 0 and at most 9",
        "example.ratio: must be at least 0.25",
        "example.mode: must be one of a, b",
        "example.tags: must be a list of strings",
        "example.on: must be true or false",
        "example.extra: unknown setting",
    ]
    assert value == Example("", 1, 0.5, "a", (), False)


def test_a_check_sees_only_a_value_that_is_given_and_well_typed() -> None:
    assert _read({"path": "x"})[1] == ["example.path: must start with /"]
    assert _read({"path": ""})[1] == ["example.path: must be a non-empty string"]
    assert _read({"path": 5})[1] == ["example.path: must be a string"]


def test_a_spec_that_does_not_fit_its_type_is_refused() -> None:
    @dataclass(frozen=True)
    class ChoicesOnFloat:
        ratio: float = field(default=1.0, metadata=setting(choices=("a",)))

    @dataclass(frozen=True)
    class RequiredInt:
        count: int = field(metadata=setting(maximum=3))

    @dataclass(frozen=True)
    class NoReading:
        raw: bytes = b""

    for cls, message in (
        (ChoicesOnFloat, "ChoicesOnFloat.ratio: choices does not apply"),
        (RequiredInt, "RequiredInt.count: only a str setting may be required"),
        (NoReading, "NoReading.raw: no TOML reading"),
    ):
        with pytest.raises(TypeError, match=message):
            read_section(TableReader("", {}, []), cls)
