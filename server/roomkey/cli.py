"""``roomkey serve``, ``roomkey check-config``, ``roomkey sign``."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from roomkey import __version__
from roomkey.channels import validate_socket_id
from roomkey.config import ConfigError, Settings, development_settings, load_settings
from roomkey.errors import BadRequest
from roomkey.logs import configure_logging
from roomkey.serving import run_server, run_workers
from roomkey.signing import sign_channel, sign_user

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
    return replace(settings, server=server)


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = _settings(args)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"config error: {line}", file=sys.stderr)
        return 2
    if settings.server.workers > 1 and not settings.redis.url:
        print(
            "roomkey: --workers above 1 needs redis.url in the config: workers share "
            "channels and presence through Redis",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.server.log_format, settings.server.log_level)
    s = settings.server
    log.info("roomkey %s listening on http://%s:%d (%s mode)", __version__, s.host, s.port, s.mode)
    for app in settings.apps:
        log.info("app: id=%s key=%s", app.id, app.key)
        if s.development:
            # The development preset's credentials are public (README) and the person who just
            # typed the command needs them: shown on stdout, never in a log line.
            print(
                f"roomkey development app on http://{s.host}:{s.port}: "
                f"id={app.id} key={app.key} secret={app.secret}",
                flush=True,
            )
    if s.workers > 1:
        log.info(
            "running %d workers on one port (SO_REUSEPORT), sharing state through Redis", s.workers
        )
        return run_workers(settings)
    run_server(settings)
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
