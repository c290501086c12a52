"""Checks on a whole configuration that keep a deployment from running unsafely.

- Production mode refuses every secret that roomkey itself publishes (``SHIPPED_SECRETS``: the
  development preset's, config.example.toml's placeholder, the README's and the docs'
  examples) and any secret containing ``change-me``: anyone who has read the docs could sign
  channel grants, REST calls or JWTs with them.
- Development mode (the demo, public credentials) listens on loopback only.
- The metrics listener's ports (one per worker) do not take the client port.

Each problem is one line with its path (``apps[0].secret: ...``); secret values are never
repeated in them. ``parse_settings`` (``reader``) reports these with every other error, and
``roomkey serve`` asks again after its command-line overrides (``--host``, ``--port``...).
"""

from __future__ import annotations

import base64
import ipaddress

from roomkey.config.presets import DEV_APP_SECRET, DEV_ENCRYPTION_MASTER_KEY, DEV_JWT_SECRET
from roomkey.config.settings import Settings

# Every secret (app secret, JWT secret, base64 encryption master key) that roomkey publishes.
# tests/cluster/test_unsafe_defaults.py scans config.example.toml, README.md and docs/ and fails when
# one they show is missing here: add it, with where it comes from.
SHIPPED_SECRETS: frozenset[str] = frozenset(
    {
        # the development preset (presets.development_settings)
        DEV_APP_SECRET,
        DEV_JWT_SECRET,
        base64.b64encode(DEV_ENCRYPTION_MASTER_KEY).decode("ascii"),
        # config.example.toml
        "change-me-secret-0123456789",
        # README.md, the minimal production file
        "a-long-random-secret-of-at-least-32-characters",
        "my-secret-of-16-or-more-characters",
        # docs/config.md
        "0123456789abcdef",
        "at-least-32-characters-of-randomness",
        # docs/protocol.md (Pusher's signature example)
        "7ad3773142a6692b25b8",
        # docs/publishing.md (the server SDK examples)
        "app-secret",
    }
)
PLACEHOLDER_MARK = "change-me"
LOOPBACK_NAMES = ("localhost",)

_PUBLISHED = (
    "is an example secret that roomkey publishes (development preset, config.example.toml, "
    "README or docs): anyone can sign with it. Production needs a secret of your own, e.g. "
    "the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


def is_shipped_secret(value: str) -> bool:
    """True when ``value`` is one of roomkey's published example secrets or carries the
    ``change-me`` placeholder mark (any case)."""
    return value in SHIPPED_SECRETS or PLACEHOLDER_MARK in value.lower()


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ``::1``, optionally in brackets)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def deployment_problems(settings: Settings) -> list[str]:
    """What makes ``settings`` unsafe or impossible to serve, each with its path: a secret
    that roomkey publishes (production mode), a listener off loopback (development mode),
    metrics ports that collide. Empty when it is fine. ``parse_settings`` reports these with
    every other error; ``roomkey serve`` asks again after its command-line overrides, and an
    application that builds ``Settings`` in code can ask before serving them."""
    problems: list[str] = []
    if settings.server.development:
        problems += _development_problems(settings)
    else:
        problems += _published_secrets(settings)
    problems += _metrics_port_problems(settings)
    return problems


def _published_secrets(settings: Settings) -> list[str]:
    problems: list[str] = []
    if settings.jwt.secret and is_shipped_secret(settings.jwt.secret):
        problems.append(f"jwt.secret: {_PUBLISHED}")
    for i, app in enumerate(settings.apps):
        if app.secret and is_shipped_secret(app.secret):
            problems.append(f"apps[{i}].secret: {_PUBLISHED}")
        master = app.encryption_master_key
        if master is not None and is_shipped_secret(base64.b64encode(master).decode("ascii")):
            problems.append(f"apps[{i}].encryption_master_key: {_PUBLISHED}")
    return problems


def _development_problems(settings: Settings) -> list[str]:
    # Refused rather than rebound to 127.0.0.1: whoever asked for another address expects
    # to be reachable there, and a silent change would look like a network problem.
    listeners = [("server.host", settings.server.host)]
    if settings.metrics.enabled:
        listeners.append(("metrics.host", settings.metrics.host))
    return [
        f"{path}: development mode (public credentials, the demo) listens on loopback only "
        f"(127.0.0.1, ::1 or localhost), not {host!r}; serve other machines in production mode"
        for path, host in listeners
        if not is_loopback(host)
    ]


def _metrics_port_problems(settings: Settings) -> list[str]:
    m, s = settings.metrics, settings.server
    if not m.enabled or m.port == 0:
        return []
    last = m.port + s.workers - 1
    if last > 65535:
        return [f"metrics.port: {s.workers} workers listen on ports {m.port} to {last}: past 65535"]
    if s.port and m.port <= s.port <= last:
        ports = f"{m.port}" if last == m.port else f"{m.port} to {last} (one per worker)"
        return [
            f"metrics.port: the metrics listener's port {ports} must not be server.port "
            f"({s.port}); metrics.on_main_port = true serves /metrics on the client port"
        ]
    return []
