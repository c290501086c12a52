"""Who may join which private, presence or encrypted channel.

Rules come from config (``[[apps.rules]]``), checked in order, first match wins; a channel that
no rule matches is denied. A rule matches when its pattern matches the channel name and the
identity carries every required claim. Patterns: ``*`` matches any run of channel-name
characters; ``{name}`` is replaced by the identity's ``user_id`` or the claim ``name`` (a rule
whose placeholder the identity lacks does not match). Example: ``private-user-{user_id}``.

When roomkey is embedded in an aiohttp application, a Python callable may replace the rules:
``(app, identity, channel) -> bool`` or an awaitable of bool.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from roomkey.config import AppSettings, RuleSettings
from roomkey.identity.base import Identity

_TOKEN_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}|\*")
_STAR = "[A-Za-z0-9_\\-=@,.;]*"

PolicyCallable = Callable[[AppSettings, Identity, str], "bool | Awaitable[bool]"]


class ChannelPolicy(Protocol):
    async def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool: ...


@dataclass(frozen=True)
class _CompiledRule:
    parts: tuple[str | None, ...]  # literal text, or None for *, or "{name}" marker
    names: tuple[str, ...]
    allow: bool
    claims: tuple[tuple[str, str], ...]

    def matches(self, identity: Identity, channel: str) -> bool:
        for key, expected in self.claims:
            if identity.value(key) != expected:
                return False
        pieces: list[str] = []
        names = iter(self.names)
        for part in self.parts:
            if part is None:
                pieces.append(_STAR)
            elif part == "{}":
                value = identity.value(next(names))
                if value is None:
                    return False
                pieces.append(re.escape(value))
            else:
                pieces.append(re.escape(part))
        return re.fullmatch("".join(pieces), channel) is not None


def compile_rule(rule: RuleSettings) -> _CompiledRule:
    parts: list[str | None] = []
    names: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(rule.pattern):
        if m.start() > pos:
            parts.append(rule.pattern[pos : m.start()])
        if m.group(0) == "*":
            parts.append(None)
        else:
            parts.append("{}")
            names.append(m.group(1))
        pos = m.end()
    if pos < len(rule.pattern):
        parts.append(rule.pattern[pos:])
    return _CompiledRule(tuple(parts), tuple(names), rule.allow, rule.claims)


class RulePolicy:
    """The rules of each app, compiled once."""

    def __init__(self, apps: tuple[AppSettings, ...]) -> None:
        self._rules = {a.id: tuple(compile_rule(r) for r in a.rules) for a in apps}

    async def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        for rule in self._rules.get(app.id, ()):
            if rule.matches(identity, channel):
                return rule.allow
        return False


class CallablePolicy:
    """Wraps an application's own function; a sync or async callable returning a bool."""

    def __init__(self, fn: PolicyCallable) -> None:
        self._fn = fn

    async def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        result = self._fn(app, identity, channel)
        if inspect.isawaitable(result):
            result = await result
        return result is True
