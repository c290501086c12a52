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
    def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool | Awaitable[bool]:
        """True to admit; a bool when decided at once (the configured rules), else an
        awaitable of one (an application's async callable). See ``allowed``."""


async def allowed(
    policy: ChannelPolicy, app: AppSettings, identity: Identity, channel: str
) -> bool:
    """``policy.allows``, awaited if it must be."""
    result = policy.allows(app, identity, channel)
    if not isinstance(result, bool):
        result = await result
    return result is True


@dataclass(frozen=True)
class _Placeholder:
    name: str  # "user_id" or a claim


@dataclass(frozen=True)
class _CompiledRule:
    # Regex fragments (literal text already escaped, * as a run of channel-name characters)
    # and placeholders, whose identity value is spliced in, escaped, at match time.
    pieces: tuple[str | _Placeholder, ...]
    allow: bool
    claims: tuple[tuple[str, str], ...]
    # The whole pattern compiled once when it has no placeholder (the common ``private-*``).
    static: re.Pattern[str] | None = None

    def matches(self, identity: Identity, channel: str) -> bool:
        for key, expected in self.claims:
            if identity.value(key) != expected:
                return False
        if self.static is not None:
            return self.static.fullmatch(channel) is not None
        fragments: list[str] = []
        for piece in self.pieces:
            if isinstance(piece, _Placeholder):
                value = identity.value(piece.name)
                if value is None:
                    return False
                fragments.append(re.escape(value))
            else:
                fragments.append(piece)
        return re.fullmatch("".join(fragments), channel) is not None


def compile_rule(rule: RuleSettings) -> _CompiledRule:
    pieces: list[str | _Placeholder] = []
    pos = 0
    for m in _TOKEN_RE.finditer(rule.pattern):
        if m.start() > pos:
            pieces.append(re.escape(rule.pattern[pos : m.start()]))
        pieces.append(_STAR if m.group(0) == "*" else _Placeholder(m.group(1)))
        pos = m.end()
    if pos < len(rule.pattern):
        pieces.append(re.escape(rule.pattern[pos:]))
    static = None
    if not any(isinstance(p, _Placeholder) for p in pieces):
        static = re.compile("".join(p for p in pieces if isinstance(p, str)))
    return _CompiledRule(tuple(pieces), rule.allow, rule.claims, static)


class RulePolicy:
    """The rules of each app, compiled once."""

    def __init__(self, apps: tuple[AppSettings, ...]) -> None:
        self._rules = {a.id: tuple(compile_rule(r) for r in a.rules) for a in apps}

    def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        for rule in self._rules.get(app.id, ()):
            if rule.matches(identity, channel):
                return rule.allow
        return False


class CallablePolicy:
    """Wraps an application's own function; a sync or async callable returning a bool."""

    def __init__(self, fn: PolicyCallable) -> None:
        self._fn = fn

    def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool | Awaitable[bool]:
        result = self._fn(app, identity, channel)
        if inspect.isawaitable(result):
            return self._settled(result)
        return result is True

    @staticmethod
    async def _settled(pending: Awaitable[bool]) -> bool:
        return (await pending) is True
