"""``roomkey serve``, ``roomkey check-config``, ``roomkey init``, ``roomkey sign``.

``serve`` ends a failed start with one line on stderr and an exit code of its own
(``roomkey.startup``: 2 configuration, 3 bind, 4 Redis, 5 web root).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from roomkey import __version__
from roomkey.config import (
    ConfigError,
    Settings,
    deployment_problems,
    development_settings,
    load_settings,
)
from roomkey.config.checks import is_shipped_secret
from roomkey.config.reader import read_config
from roomkey.config.sources import environment_settings, shown_value
from roomkey.config.starter import starter_config
from roomkey.core.channels import validate_socket_id
from roomkey.core.errors import BadRequest
from roomkey.core.signing import sign_channel, sign_user
from roomkey.logs import configure_logging
from roomkey.process import run_server, run_workers
from roomkey.startup import (
    EXIT_CODES_HELP,
    EXIT_CONFIG,
    EXIT_FAILURE,
    StartupError,
    check_redis,
    check_web_root,
)

log = logging.getLogger("roomkey")


def _settings(args: argparse.Namespace) -> Settings:
    if not args.config and environment_settings(os.environ):
        # The preset is built in code, not read: say so rather than ignore them silently.
        print(
            "roomkey: warning: ROOMKEY_<TABLE>__<KEY> variables apply to a --config file; "
            "without one the development preset ignores them",
            file=sys.stderr,
        )
    settings = load_settings(args.config) if args.config else development_settings()
    server = settings.server
    if args.host:
        server = replace(server, host=args.host)
    if args.port is not None:
        server = replace(server, port=args.port)
    if args.workers is not None:
        server = replace(server, workers=args.workers)
    settings = replace(settings, server=server)
    if args.metrics_port is not None:
        settings = replace(settings, metrics=replace(settings.metrics, port=args.metrics_port))
    # The file passed these checks; the command line may have changed what they look at.
    problems = deployment_problems(settings)
    if problems:
        raise ConfigError(problems)
    return settings


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"config error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    if settings.server.workers > 1 and not settings.redis.enabled:
        print(
            "roomkey: --workers above 1 needs redis.url (or redis.sentinels or "
            "redis.cluster_nodes) in the config: workers share "
            "channels and presence through Redis",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    # Imported here: check-config and sign never load the Socket.IO libraries.
    from roomkey._patches import LibraryMismatch, require_guards

    try:
        # Before anything starts (workers included): a library that no longer fits one of
        # roomkey's guards is one line and exit 1, not a traceback from each process.
        require_guards()
    except LibraryMismatch as exc:
        print(f"roomkey: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        web_root = check_web_root(settings)
        check_redis(settings)
        configure_logging(settings.server.log_format, settings.server.log_level)
        if settings.server.workers > 1:
            log.info(
                "running %d workers on one port (SO_REUSEPORT), sharing state through Redis",
                settings.server.workers,
            )
            _show_development_credentials(settings)
            return run_workers(settings, web_root)
        run_server(
            settings,
            web_root=web_root,
            on_listening=lambda: _show_development_credentials(settings),
        )
    except StartupError as exc:
        print(f"roomkey: {exc.message}", file=sys.stderr)
        return exc.code
    return 0


def _show_development_credentials(settings: Settings) -> None:
    """In development mode, the app's credentials on stdout for the person who just typed
    the command (the development preset's are public, README); never in a log line. A
    secret of one's own, in a development-mode file, is not shown anywhere."""
    s = settings.server
    if not s.development:
        return
    for app in settings.apps:
        secret = app.secret if is_shipped_secret(app.secret) else "(from the config file)"
        print(
            f"roomkey development app on http://{s.host}:{s.port}: "
            f"id={app.id} key={app.key} secret={secret}",
            flush=True,
        )


def _check(args: argparse.Namespace) -> int:
    try:
        loaded = read_config(args.config)
    except ConfigError as exc:
        for line in exc.errors:
            print(line)
        print(f"{len(exc.errors)} error(s) in {args.config}", file=sys.stderr)
        return 1
    settings = loaded.settings
    print(f"{args.config}: OK ({len(settings.apps)} app(s))")
    # Where each given value came from; secrets are named, never shown.
    for path, origin in loaded.sources.items():
        print(f"  {path} = {shown_value(path, _value_at(settings, path))}  ({origin})")
    print("  every other setting: its default (config.example.toml)")
    return 0


_STEP_RE = re.compile(r"([a-z_0-9]+)(?:\[(\d+)\])?")


def _value_at(settings: Settings, path: str) -> Any:
    """The value of the setting at ``path`` (``apps[0].limits.max_connections``)."""
    value: Any = settings
    for step in path.split("."):
        match = _STEP_RE.fullmatch(step)
        if match is None:
            return None
        name, index = match.groups()
        # A key read from ``<key>_file`` is recorded under its own name: its value is the
        # setting's.
        value = getattr(value, name.removesuffix("_file"), None)
        if index is not None:
            value = value[int(index)] if isinstance(value, tuple) else None
    return value


def _init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"roomkey init: {path} exists; pass --force to replace it", file=sys.stderr)
        return EXIT_CONFIG
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # an existing file (--force) keeps no wider mode
        out.write(starter_config(path.name))
    print(f"wrote {path} (mode 0600, fresh random secrets): roomkey serve --config {path}")
    return 0


def _sign(args: argparse.Namespace) -> int:
    if args.user_data is not None:
        print(sign_user(args.key, args.secret, args.socket_id, args.user_data))
    elif args.channel:
        print(sign_channel(args.key, args.secret, args.socket_id, args.channel, args.channel_data))
    else:
        print("roomkey sign: give --channel or --user-data", file=sys.stderr)
        return 2
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="roomkey",
        description="Pusher-compatible private-channel server",
        epilog="roomkey serve " + EXIT_CODES_HELP + ". Settings: a TOML file, with any key "
        "overridden by ROOMKEY_<TABLE>__<KEY> environment variables (docs/config.md).",
    )
    parser.add_argument("--version", action="version", version=f"roomkey {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the server (no --config: development preset with the demo)",
        epilog=EXIT_CODES_HELP,
    )
    serve.add_argument("--config", help="TOML configuration file")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, help="processes sharing one port (needs redis.url)")
    serve.add_argument(
        "--metrics-port",
        type=_port,
        help="the metrics listener's port (metrics.port; 0: a free port, shown in the log)",
    )
    serve.set_defaults(func=_serve)
    check = sub.add_parser(
        "check-config",
        help="validate a configuration file (with ROOMKEY_... variables) and show where each "
        "value came from; exit 1 on errors",
    )
    check.add_argument("config")
    check.set_defaults(func=_check)
    init = sub.add_parser(
        "init", help="write a starter configuration with fresh random secrets (mode 0600)"
    )
    init.add_argument("path", nargs="?", default="roomkey.toml")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.set_defaults(func=_init)
    sign = sub.add_parser("sign", help="compute an auth signature (debugging help)")
    sign.add_argument("--key", required=True)
    sign.add_argument("--secret", required=True)
    sign.add_argument("--socket-id", required=True, type=_socket_id)
    sign.add_argument("--channel")
    sign.add_argument("--channel-data")
    sign.add_argument("--user-data")
    sign.set_defaults(func=_sign)
    return parser


def _socket_id(value: str) -> str:
    """``--socket-id``: refused (exit 2) unless it is a socket id (``1234.5678``)."""
    try:
        return validate_socket_id(value)
    except BadRequest as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
