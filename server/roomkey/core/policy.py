"""Who may join which private, presence or encrypted channel.

Rules come from config (``[[apps.rules]]``), checked in order, first match wins; a channel that
no rule matches is denied. A rule matches when its pattern matches the channel name and the
identity carries every required claim. Patterns: ``*`` matches any run of channel-name
characters; ``{name}`` is replaced by the identity's ``user_id`` or the claim ``name`` (a rule
whose placeholder the identity lacks does not match). Example: ``private-user-{user_id}``.

When roomkey is embedded in an aiohttp application, a Python function may replace the rules:
``(app, identity, channel) -> bool``, or an ``async def`` (or any function returning an
awaitable of bool). A policy is one of two types, chosen once (``policy_for``):

- ``SyncPolicy``: ``allows(...) -> bool``, decided at once (the configured rules, a plain
  function that answers a bool). The authorize endpoint then signs without awaiting anything.
- ``AsyncPolicy``: ``async allows(...) -> bool`` (an ``async def``, or a function that returns
  an awaitable).

A plain function could be either until it is called: its first call tells (``FirstCallPolicy``).
Callers that may wait use ``allowed``; the authorize endpoint branches on the type.
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from roomkey.config import AppSettings, RuleSettings
from roomkey.identity.base import Identity

_TOKEN_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}|\*")
_STAR = "[A-Za-z0-9_\\-=@,.;]*"

# What ``setup(policy=...)`` accepts: a function that answers at once, or one that answers
# with an awaitable (an ``async def``).
PolicyFunction = (
    Callable[[AppSettings, Identity, str], bool]
    | Callable[[AppSettings, Identity, str], Awaitable[bool]]
)


class SyncPolicy(ABC):
    """A policy that decides at once."""

    @abstractmethod
    def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        """True to admit ``identity`` to ``channel`` of ``app``."""


class AsyncPolicy(ABC):
    """A policy that may wait (an application's ``async def``, a lookup elsewhere)."""

    @abstractmethod
    async def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        """True to admit ``identity`` to ``channel`` of ``app``."""


ChannelPolicy = SyncPolicy | AsyncPolicy


async def allowed(
    policy: ChannelPolicy, app: AppSettings, identity: Identity, channel: str
) -> bool:
    """``policy.allows``, awaited when the policy is an ``AsyncPolicy``."""
    if isinstance(policy, SyncPolicy):
        return policy.allows(app, identity, channel)
    return await policy.allows(app, identity, channel)


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


class RulePolicy(SyncPolicy):
    """The rules of each app, compiled once."""

    def __init__(self, apps: tuple[AppSettings, ...]) -> None:
        self._rules = {a.id: tuple(compile_rule(r) for r in a.rules) for a in apps}

    def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        for rule in self._rules.get(app.id, ()):
            if rule.matches(identity, channel):
                return rule.allow
        return False


class FunctionPolicy(SyncPolicy):
    """An application's function that answers at once: admits on ``True`` only.

    Should it return an awaitable after all (a function that answers both ways), that is a
    ``TypeError``: such a function must be an ``async def`` (``AsyncFunctionPolicy``)."""

    def __init__(self, fn: Callable[[AppSettings, Identity, str], object]) -> None:
        self._fn = fn

    def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        result = self._fn(app, identity, channel)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: no "was never awaited" warning later
            raise TypeError(
                "the channel policy answered with a bool on its first call and with an "
                "awaitable now: make it an async def"
            )
        return result is True


class AsyncFunctionPolicy(AsyncPolicy):
    """An application's ``async def`` (or a function returning an awaitable of bool; a bool
    returned at once is taken as well): admits on ``True`` only."""

    def __init__(self, fn: Callable[[AppSettings, Identity, str], object]) -> None:
        self._fn = fn

    async def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        result = self._fn(app, identity, channel)
        if inspect.isawaitable(result):
            result = await result
        return result is True


class FirstCallPolicy(AsyncPolicy):
    """A plain function (not an ``async def``) before its first call, which tells what it is:
    a bool makes it a ``FunctionPolicy``, an awaitable an ``AsyncFunctionPolicy``. That choice
    is ``known`` from then on, and handed once to ``on_known`` (the runtime then holds the
    known policy, so the authorize endpoint stays synchronous for a synchronous function);
    later calls here go straight to it."""

    def __init__(self, fn: Callable[[AppSettings, Identity, str], object]) -> None:
        self._fn = fn
        self.known: ChannelPolicy | None = None
        self.on_known: Callable[[ChannelPolicy], None] | None = None

    async def allows(self, app: AppSettings, identity: Identity, channel: str) -> bool:
        if self.known is not None:
            return await allowed(self.known, app, identity, channel)
        result = self._fn(app, identity, channel)
        known: ChannelPolicy
        if inspect.isawaitable(result):
            known = AsyncFunctionPolicy(self._fn)
            result = await result
        else:
            known = FunctionPolicy(self._fn)
        if self.known is None:  # two first calls at once: the first to finish decides
            self.known = known
            if self.on_known is not None:
                self.on_known(known)
        return result is True


def policy_for(fn: PolicyFunction) -> ChannelPolicy:
    """The policy type for an application's function, chosen once: an ``async def`` (or an
    object whose ``__call__`` is one) is an ``AsyncFunctionPolicy``; any other function a
    ``FirstCallPolicy`` until its first call shows which it is."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 (an object with an async __call__)
    ):
        return AsyncFunctionPolicy(fn)
    return FirstCallPolicy(fn)
