"""Configuration in: a TOML file (or its parsed tables) to a validated ``Settings``.

No other module reads TOML. ``load_settings(path)`` reads a file and the ``ROOMKEY_...``
environment variables over it (``sources``), ``read_config(path)`` does the same and also
says where each value came from; ``parse_settings(data)`` validates what ``tomllib`` made of
one (with ``environ``, those variables too): each table by ``sections.read_section``, then the
checks that span tables (at least one app, unique ids and keys, what several workers and a
Redis session store need), then ``checks.deployment_problems``. Every error names its path
(``apps[0].secret: must be a non-empty string``) and all are reported together
(``ConfigError.errors``). config.example.toml documents every key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from roomkey.config.checks import deployment_problems
from roomkey.config.identity_checks import identity_problems
from roomkey.config.sections import read_section
from roomkey.config.settings import AppSettings, Settings
from roomkey.config.sources import apply_environment
from roomkey.config.table import ConfigError, TableReader

__all__ = ["LoadedConfig", "load_settings", "parse_settings", "read_config"]


@dataclass(frozen=True)
class LoadedConfig:
    """Settings and where each given value came from: ``sources`` maps a setting's path
    (``apps[0].secret``) to ``file <path>``, ``env <VARIABLE>`` or ``file <path> named by
    <key or variable>``; a setting absent from it has its default."""

    settings: Settings
    sources: Mapping[str, str]


def load_settings(path: str | Path, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a TOML file, with the ``ROOMKEY_...`` variables of ``environ``
    (default ``os.environ``) over it. Raises ``ConfigError`` listing every problem."""
    return read_config(path, environ=environ).settings


def read_config(path: str | Path, *, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """``load_settings``, with where each value came from."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    sources: dict[str, str] = {}
    environ = os.environ if environ is None else environ
    settings = _parse(data, environ, sources, f"file {path}")
    return LoadedConfig(settings, sources)


def parse_settings(data: object, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate parsed TOML (``tomllib.loads`` output), with the ``ROOMKEY_...`` variables of
    ``environ`` over it when given. Raises ``ConfigError`` listing every problem, each with
    its path."""
    return _parse(data, environ or {}, None, "")


def _parse(
    data: object, environ: Mapping[str, str], sources: dict[str, str] | None, origin: str
) -> Settings:
    errors: list[str] = []
    data = apply_environment(data, environ, errors)
    settings = read_section(TableReader("", data, errors, sources, origin), Settings)
    if not settings.apps:
        errors.append("apps: at least one [[apps]] table is required")
    _check_unique(settings.apps, errors)
    if settings.server.workers > 1 and not settings.redis.enabled:
        errors.append(
            "server.workers: more than one worker needs redis.url, redis.sentinels or "
            "redis.cluster_nodes (workers share state through Redis)"
        )
    # A key already refused as written (a bad secret_key) is not also reported as missing.
    reported = {e.split(":", 1)[0] for e in errors}
    errors.extend(p for p in identity_problems(settings) if p.split(":", 1)[0] not in reported)
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
