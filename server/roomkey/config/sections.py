"""Reading one TOML table into its settings dataclass, driven by the dataclass itself.

``read_section(reader, cls)`` reads every field of ``cls`` in declaration order:

- by its annotated type: ``str``, ``int``, ``float``, ``bool``, ``tuple[str, ...]``; a settings
  dataclass is a sub-table read the same way; ``tuple[<dataclass>, ...]`` an array of tables;
- with its default (a ``str`` field without one is required: absent or empty is an error);
- with its ``values.Setting`` spec: bounds, choices, a ``check`` on the value, or a ``read``
  of its own;

then runs the checks that span several fields of the section (``SECTION_CHECKS``), then
reports the keys it did not read. Each problem is recorded on the reader with its path, a
wrong value falls back to its default so that reading goes on, and every problem is reported
(``reader.parse_settings`` raises them together). How each field is read is worked out once
per class (for the classes of its sub-tables too); a spec that does not fit its field's type
raises ``TypeError`` then, so the first parse finds any mistake in settings.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, get_args, get_origin, get_type_hints

from roomkey.config.settings import JwtSettings, RedisSettings
from roomkey.config.table import TableReader
from roomkey.config.values import Check, spec_of

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

S = TypeVar("S", bound="DataclassInstance")

SectionCheck = Callable[[Any], Iterator[tuple[str, str]]]
"""Problems of a whole section, each ``(key, message)``; given the section as read."""


def _redis_section(s: RedisSettings) -> Iterator[tuple[str, str]]:
    if s.node_timeout_seconds <= s.heartbeat_seconds:
        yield "node_timeout_seconds", "must be longer than heartbeat_seconds"
    yield from _redis_topology(s)


def _redis_topology(s: RedisSettings) -> Iterator[tuple[str, str]]:
    """One topology at most, each with what it needs and nothing that belongs to another."""
    chosen = [k for k in ("url", "sentinels", "cluster_nodes") if getattr(s, k)]
    if len(chosen) > 1:
        yield chosen[1], f"cannot be combined with {chosen[0]}: choose one Redis topology"
        return
    if s.sentinels and not s.sentinel_master:
        yield "sentinel_master", "is required with sentinels (the master name they monitor)"
    if not s.sentinels:
        for key in ("sentinel_master", "sentinel_username", "sentinel_password"):
            if getattr(s, key):
                yield key, "applies only with sentinels"
    if s.url:
        for key in ("username", "password", "tls_ca_file"):
            if getattr(s, key):
                yield key, "is for sentinels or cluster_nodes; a url carries its own credentials"
        if s.tls:
            yield "tls", "is for sentinels or cluster_nodes; use a rediss:// url for TLS"
    elif not s.mode:
        for key in ("username", "password", "tls", "tls_ca_file"):
            if getattr(s, key):
                yield key, "needs a Redis topology (url, sentinels or cluster_nodes)"
    if s.tls_ca_file and not s.tls:
        yield "tls_ca_file", "applies only with tls = true"


def _jwt_key_families(s: JwtSettings) -> Iterator[tuple[str, str]]:
    # A key of the wrong family would be refused by PyJWT at the first token, or worse, a
    # public key used as an HMAC secret: say so at start instead.
    asym = [a for a in s.algorithms if not a.startswith("HS")]
    if s.secret and asym:
        yield "secret", "is for HS* algorithms; use public_key for " + ", ".join(asym)
    if s.public_key and any(a.startswith("HS") for a in s.algorithms):
        yield "public_key", "is for public-key algorithms; use secret for HS*"


SECTION_CHECKS: Mapping[type, SectionCheck] = {
    RedisSettings: _redis_section,
    JwtSettings: _jwt_key_families,
}


def read_section(r: TableReader, cls: type[S]) -> S:
    """``cls`` built from the table ``r`` holds; its problems appended to ``r.errors``.

    A field's ``check`` runs only on a value that the table gives and that passed its type,
    range and choices; the value is kept whatever the check says (any problem fails the
    configuration anyway)."""
    values: dict[str, Any] = {}
    for f in _plan(cls):
        before = len(r.errors)
        value = f.read(r)
        if f.check is not None and r.given(f.name) and len(r.errors) == before:
            for problem in f.check(value):
                r.error(f.name, problem)
        values[f.name] = value
    section = cls(**values)
    section_check = SECTION_CHECKS.get(cls)
    if section_check is not None:
        for key, problem in section_check(section):
            r.error(key, problem)
    r.finish()
    return section


@dataclasses.dataclass(frozen=True)
class _FieldReader:
    name: str
    read: Callable[[TableReader], Any]
    check: Check | None


@cache
def _plan(cls: type[DataclassInstance]) -> tuple[_FieldReader, ...]:
    hints = get_type_hints(cls)
    return tuple(_field_reader(cls, f, hints[f.name]) for f in dataclasses.fields(cls))


def _field_reader(cls: type, f: Field[Any], hint: Any) -> _FieldReader:
    name, spec = f.name, spec_of(f)
    where = f"{cls.__name__}.{name}"
    required = f.default is MISSING and f.default_factory is MISSING
    default: Any = None
    if f.default is not MISSING:
        default = f.default
    elif f.default_factory is not MISSING:
        default = f.default_factory()

    def refuse(*parts: str) -> None:
        given = [p for p in parts if getattr(spec, p) not in (None, ())]
        if given:
            raise TypeError(f"{where}: {', '.join(given)} does not apply to {hint}")

    def done(read: Callable[[TableReader], Any]) -> _FieldReader:
        if required and hint is not str:
            raise TypeError(f"{where}: only a str setting may be required (have no default)")
        return _FieldReader(name, read, spec.check)

    custom = spec.read
    if custom is not None:
        refuse("minimum", "maximum", "choices")
        return done(lambda r: custom(r, name, default))
    if hint is str:
        refuse("minimum", "maximum")
        text_default = "" if required else default
        return done(lambda r: r.text(name, text_default, required=required, choices=spec.choices))
    if hint is int:
        refuse("choices")
        minimum = 0 if spec.minimum is None else spec.minimum
        if not isinstance(minimum, int):
            raise TypeError(f"{where}: the minimum of an int setting must be an int")
        return done(lambda r: r.integer(name, default, minimum=minimum, maximum=spec.maximum))
    if hint is float:
        refuse("maximum", "choices")
        # A float minimum, so that its message reads "must be at least 1.0" as always.
        low = 0.0 if spec.minimum is None else float(spec.minimum)
        return done(lambda r: r.number(name, default, minimum=low))
    refuse("minimum", "maximum", "choices")
    if hint is bool:
        return done(lambda r: r.flag(name, default))
    if hint == tuple[str, ...]:
        return done(lambda r: r.str_list(name, default))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        table: type[DataclassInstance] = hint
        _plan(table)  # its specs are checked now, not when a file first has the table
        return done(lambda r: read_section(r.sub(name), table))
    args = get_args(hint)
    if (
        get_origin(hint) is tuple
        and len(args) == 2
        and args[1] is Ellipsis
        and dataclasses.is_dataclass(args[0])
        and isinstance(args[0], type)
    ):
        if default != ():
            raise TypeError(f"{where}: an array of tables defaults to ()")
        item: type[DataclassInstance] = args[0]
        _plan(item)
        return done(lambda r: tuple(read_section(t, item) for t in r.array(name)))
    raise TypeError(f"{where}: no TOML reading for {hint}; give it a read= in its setting()")
