"""Configuration in: a TOML file (or its parsed tables) to a validated ``Settings``.

No other module reads TOML. ``load_settings(path)`` reads a file, ``parse_settings(data)``
validates what ``tomllib`` made of one: each table by ``sections.read_section``, then the
checks that span tables (at least one app, unique ids and keys, what several workers and a
Redis session store need), then ``checks.deployment_problems``. Every error names its path
(``apps[0].secret: must be a non-empty string``) and all are reported together
(``ConfigError.errors``). config.example.toml documents every key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from roomkey.config.checks import deployment_problems
from roomkey.config.sections import read_section
from roomkey.config.settings import AppSettings, Settings
from roomkey.config.table import ConfigError, TableReader

__all__ = ["load_settings", "parse_settings"]


def load_settings(path: str | Path) -> Settings:
    """Read and validate a TOML file. Raises ``ConfigError`` listing every problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    return parse_settings(data)


def parse_settings(data: object) -> Settings:
    """Validate parsed TOML (``tomllib.loads`` output). Raises ``ConfigError`` listing every
    problem, each with its path."""
    errors: list[str] = []
    settings = read_section(TableReader("", data, errors), Settings)
    if not settings.apps:
        errors.append("apps: at least one [[apps]] table is required")
    _check_unique(settings.apps, errors)
    if settings.server.workers > 1 and not settings.redis.enabled:
        errors.append(
            "server.workers: more than one worker needs redis.url, redis.sentinels or "
            "redis.cluster_nodes (workers share state through Redis)"
        )
    session = settings.session
    if session.store == "redis" and not (session.redis_url or settings.redis.enabled):
        errors.append(
            'session.store: "redis" needs session.redis_url or a [redis] topology '
            "(url, sentinels or cluster_nodes)"
        )
    errors.extend(deployment_problems(settings))
    if errors:
        raise ConfigError(errors)
    return settings


def _check_unique(apps: tuple[AppSettings, ...], errors: list[str]) -> None:
    for attr in ("id", "key"):
        seen: dict[str, int] = {}
        for i, app in enumerate(apps):
            value = getattr(app, attr)
            if value and value in seen:
                errors.append(f"apps[{i}].{attr}: duplicates apps[{seen[value]}].{attr}")
            seen.setdefault(value, i)
