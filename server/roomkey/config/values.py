"""What one setting may hold: the ``Setting`` spec a settings field carries in its metadata,
and the checks and readers of single values that specs name.

``settings.py`` declares each setting as one dataclass field. Its annotated type says how the
TOML value is read (``str``, ``int``, ``float``, ``bool``, ``tuple[str, ...]``, a settings
dataclass for a sub-table, a tuple of them for an array of tables); when the value needs more
than its type, the field's metadata says what::

    port: int = field(default=6001, metadata=setting(maximum=65535))

``sections.read_section`` does the reading. A ``check`` gets a value that is present in the
file and passed its type, range and choices, and returns its problems (empty when fine); the
value is kept either way, since any problem fails the whole configuration. A ``read``
replaces the type's reading for the few settings whose TOML form is not their Python form (a
base64 key, a table of claims). Any key may also come from a file (``<key>_file``) or an
environment variable: ``table`` and ``sources`` handle that for every setting alike.

This module imports no settings class (``settings`` imports it), so the import graph of
``roomkey.config`` has no cycle.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import Field, dataclass
from pathlib import Path
from typing import Any

from roomkey.config.table import FILE_SUFFIX, TableReader
from roomkey.redis_keys import name_problem

Check = Callable[[Any], Iterable[str]]
"""A value's problems (each a message without its path); nothing when the value is fine."""

Read = Callable[[TableReader, str, Any], Any]
"""``read(reader, key, default)``: the value of ``key``, its problems recorded on ``reader``."""


@dataclass(frozen=True)
class Setting:
    """What a field's type alone does not say. ``minimum`` (default 0) applies to ``int`` and
    ``float`` fields, ``maximum`` to ``int`` fields, ``choices`` to ``str`` fields; ``check``
    and ``read`` are described in the module docstring. ``sections`` refuses a spec that does
    not fit its field's type (``TypeError`` on the first parse), so a typo in settings.py
    cannot silently drop a bound."""

    minimum: float | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    check: Check | None = None
    read: Read | None = None


SETTING = "roomkey.setting"
"""The key of a ``Setting`` in a dataclass field's metadata."""

NO_SPEC = Setting()


def setting(
    *,
    minimum: float | None = None,
    maximum: int | None = None,
    choices: tuple[str, ...] = (),
    check: Check | None = None,
    read: Read | None = None,
) -> Mapping[str, Setting]:
    """Field metadata carrying a ``Setting``: ``field(default=..., metadata=setting(...))``."""
    return {SETTING: Setting(minimum, maximum, choices, check, read)}


def spec_of(f: Field[Any]) -> Setting:
    """The ``Setting`` of a dataclass field; ``NO_SPEC`` when it has none."""
    spec = f.metadata.get(SETTING, NO_SPEC)
    assert isinstance(spec, Setting)
    return spec


# -- checks ------------------------------------------------------------------------------

WEBHOOK_EVENT_TYPES = (
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
    "subscription_count",
)

JWT_ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "EdDSA",
)

# App ids appear in Redis key names, REST paths and metric labels; keys in signatures
# ("{key}:{hex}"), URL paths and headers; the prefix starts every Redis name. All three are
# safe names (redis_keys.SAFE_NAME), so none can carry a separator into those places.
MAX_APP_ID_CHARS = 64
MAX_APP_KEY_CHARS = 128
MAX_PREFIX_CHARS = 64

MAX_SESSION_RECHECK_SECONDS = 300.0

IDENTITY_SOURCE_NAMES = ("bearer", "session", "app")
SESSION_KEY_BYTES = 32

_RULE_PATTERN_RE = re.compile(r"(?:[A-Za-z0-9_\-=@,.;*#]|\{[A-Za-z_][A-Za-z0-9_]*\})+")


def safe_name(max_length: int) -> Check:
    """A safe name (``redis_keys.name_problem``) of at most ``max_length`` characters."""

    def check(value: str) -> list[str]:
        problem = name_problem(value, max_length)
        return [] if problem is None else [problem]

    return check


def at_least_chars(length: int) -> Check:
    """A secret of at least ``length`` characters (an empty one is left to other checks)."""

    def check(value: str) -> list[str]:
        return [f"must be at least {length} characters"] if value and len(value) < length else []

    return check


def url_path(value: str) -> list[str]:
    """An absolute URL path."""
    return [] if value.startswith("/") else ["must start with /"]


def web_directory(value: str) -> list[str]:
    """Empty, or a directory holding ``roomkey.js``."""
    if value and not (Path(value) / "roomkey.js").is_file():
        return [f"{value} has no roomkey.js (it must be roomkey's web/ directory)"]
    return []


def ip_networks(values: tuple[str, ...]) -> list[str]:
    """Each item an IP address or a CIDR network: one problem per item that is not."""
    problems = []
    for proxy in values:
        try:
            ipaddress.ip_network(proxy.strip(), strict=False)
        except ValueError:
            problems.append(f"{proxy!r} is not an IP address or CIDR network")
    return problems


def host_name(value: str) -> list[str]:
    """A non-empty host name or address."""
    return [] if value else ["must be a host name or an IP address"]


def redis_url(value: str) -> list[str]:
    """Empty (no Redis), or a URL redis-py opens."""
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        return ["must start with redis://, rediss:// or unix://"]
    return []


def redis_addresses(values: tuple[str, ...]) -> list[str]:
    """Each item ``host:port`` (an IPv6 address in brackets: ``[::1]:26379``)."""
    problems = []
    for item in values:
        if parse_address(item) is None:
            problems.append(f"{item!r} is not host:port")
    return problems


def parse_address(value: str) -> tuple[str, int] | None:
    """``(host, port)`` from ``host:port`` or ``[v6]:port``; None when it is neither."""
    host, sep, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


def http_url(value: str) -> list[str]:
    """An http:// or https:// URL."""
    if value and not value.startswith(("http://", "https://")):
        return ["must be an http:// or https:// URL"]
    return []


def jwt_algorithms(values: tuple[str, ...]) -> list[str]:
    """A non-empty list of the algorithms PyJWT verifies, never ``none``, of one family."""
    problems = []
    if not values or any(a not in JWT_ALGORITHMS for a in values):
        problems.append(
            f"must be a non-empty list of {', '.join(JWT_ALGORITHMS)} ('none' is never allowed)"
        )
    if any(a.startswith("HS") for a in values) and any(not a.startswith("HS") for a in values):
        # Mixing families is how a public key ends up used as an HMAC secret.
        problems.append("must not mix HS* with public-key algorithms")
    return problems


def session_recheck(value: float) -> list[str]:
    """At most ``MAX_SESSION_RECHECK_SECONDS``."""
    if value > MAX_SESSION_RECHECK_SECONDS:
        # The bound is how long a logged-out user's socket keeps its identity: keep it short.
        return [f"must be at most {MAX_SESSION_RECHECK_SECONDS:g}"]
    return []


def identity_order(values: tuple[str, ...]) -> list[str]:
    """Identity sources (``bearer``, ``session``, ``app``), each at most once."""
    problems = []
    unknown = [v for v in values if v not in IDENTITY_SOURCE_NAMES]
    if unknown:
        problems.append(
            f"unknown identity sources {', '.join(unknown)} "
            f"(choose from {', '.join(IDENTITY_SOURCE_NAMES)})"
        )
    if len(set(values)) != len(values):
        problems.append("names a source more than once")
    return problems


def channel_pattern(value: str) -> list[str]:
    """Channel-name characters, ``*`` and ``{placeholder}``s only."""
    if value and _RULE_PATTERN_RE.fullmatch(value) is None:
        # A typo such as "private-user-{user_id" would otherwise never match, silently.
        return ["may only contain channel-name characters, * and {placeholder}s"]
    return []


def webhook_event_types(values: tuple[str, ...]) -> list[str]:
    """Each item one of ``WEBHOOK_EVENT_TYPES``."""
    unknown = [t for t in values if t not in WEBHOOK_EVENT_TYPES]
    return [f"unknown event types {', '.join(unknown)}"] if unknown else []


# -- readers -----------------------------------------------------------------------------


def read_master_key(r: TableReader, key: str, default: bytes | None) -> bytes | None:
    """32 bytes, base64-encoded in the file; ``default`` when absent, ``None`` when invalid."""
    master = r.text(key, "")
    if not master:
        return default
    try:
        master_key = base64.b64decode(master, validate=True)
    except (binascii.Error, ValueError):
        master_key = b""
    if len(master_key) != 32:
        r.error(key, "must be 32 bytes, base64-encoded")
        return None
    return master_key


def read_claims(
    r: TableReader, key: str, default: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...]:
    """A table of strings (booleans and numbers as their TOML text), as sorted pairs."""
    claims = r.str_map(key)
    return tuple(sorted(claims.items())) if claims else default


def read_session_key(r: TableReader, key: str, default: bytes | None) -> bytes | None:
    """The 32-byte key of aiohttp-session's cookie storages: base64 (standard or URL-safe)
    in ``secret_key``, or in the file named by ``secret_key_file`` (which wins; a file of
    exactly 32 bytes is taken as the raw key, so it is read here as bytes rather than as the
    table's generic ``<key>_file`` text). Problems never repeat the key."""
    file_key = key + FILE_SUFFIX
    named = r.table.get(file_key)
    if named is not None:
        r.seen.update((key, file_key))
        if not isinstance(named, str) or not named:
            r.error(file_key, "must be the path of a file (a non-empty string)")
            return None
        try:
            content = Path(named).read_bytes()
        except OSError as exc:
            r.error(file_key, f"cannot read {named} ({exc.strerror})")
            return None
        where = file_key
        if len(content) == SESSION_KEY_BYTES:
            return content
        raw = _base64_key(content.decode("ascii", errors="replace").strip())
    else:
        text = r.text(key, "")
        if not text:
            return default
        where = key
        raw = _base64_key(text)
    if raw is None or len(raw) != SESSION_KEY_BYTES:
        r.error(where, f"must be {SESSION_KEY_BYTES} bytes, base64-encoded (standard or URL-safe)")
        return None
    return raw


def _base64_key(text: str) -> bytes | None:
    alphabet = text.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(alphabet, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_session_secrets(r: TableReader, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """express-session's secrets, the current one first: the list ``secrets``, or the file
    named by ``secrets_file`` (the table's generic ``<key>_file``), one secret per line
    (blank lines skipped; as in any list setting given as text, a comma also separates)."""
    values = r.str_list(key, default)
    if r.table.get(key + FILE_SUFFIX) is not None:
        values = tuple(line.strip() for v in values for line in v.splitlines() if line.strip())
    if any(not v for v in values):
        r.error(key, "must not hold an empty secret")
    return values
