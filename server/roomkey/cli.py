"""``roomkey serve``, ``roomkey check-config``, ``roomkey sign``."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from roomkey import __version__
from roomkey.config import (
    ConfigError,
    Settings,
    deployment_problems,
    development_settings,
    load_settings,
)
from roomkey.config.checks import is_shipped_secret
from roomkey.core.channels import validate_socket_id
from roomkey.core.errors import BadRequest
from roomkey.core.signing import sign_channel, sign_user
from roomkey.logs import configure_logging
from roomkey.process import run_server, run_workers

log = logging.getLogger("roomkey")


def _settings(args: argparse.Namespace) -> Settings:
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
        return 2
    if settings.server.workers > 1 and not settings.redis.enabled:
        print(
            "roomkey: --workers above 1 needs redis.url (or redis.sentinels or "
            "redis.cluster_nodes) in the config: workers share "
            "channels and presence through Redis",
            file=sys.stderr,
        )
        return 2
    # Imported here: check-config and sign never load the Socket.IO libraries.
    from roomkey._patches import LibraryMismatch, require_guards

    try:
        # Before anything starts (workers included): a library that no longer fits one of
        # roomkey's guards is one line and exit 1, not a traceback from each process.
        require_guards()
    except LibraryMismatch as exc:
        print(f"roomkey: {exc}", file=sys.stderr)
        return 1
    configure_logging(settings.server.log_format, settings.server.log_level)
    s = settings.server
    log.info("roomkey %s listening on http://%s:%d (%s mode)", __version__, s.host, s.port, s.mode)
    for app in settings.apps:
        log.info("app: id=%s key=%s", app.id, app.key)
        if s.development:
            # The development preset's credentials are public (README) and the person who just
            # typed the command needs them: shown on stdout, never in a log line. A secret of
            # one's own, in a development-mode file, is not shown anywhere.
            secret = app.secret if is_shipped_secret(app.secret) else "(from the config file)"
            print(
                f"roomkey development app on http://{s.host}:{s.port}: "
                f"id={app.id} key={app.key} secret={secret}",
                flush=True,
            )
    if s.workers > 1:
        log.info(
            "running %d workers on one port (SO_REUSEPORT), sharing state through Redis", s.workers
        )
        return run_workers(settings)
    try:
        run_server(settings)
    except OSError as exc:  # a port in use, an address not on this machine
        print(f"roomkey: {exc}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        for line in exc.errors:
            print(line)
        print(f"{len(exc.errors)} error(s) in {args.config}", file=sys.stderr)
        return 1
    print(f"{args.config}: OK ({len(settings.apps)} app(s))")
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
        prog="roomkey", description="Pusher-compatible private-channel server"
    )
    parser.add_argument("--version", action="version", version=f"roomkey {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve", help="run the server (no --config: development preset with the demo)"
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
    check = sub.add_parser("check-config", help="validate a configuration file; exit 1 on errors")
    check.add_argument("config")
    check.set_defaults(func=_check)
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
