"""An aiohttp application of its own that mounts roomkey with ``setup()``, run as a process
by tests of what its logs show:
``python -m tests.support.embedded_host CONFIG PORT none|basic``.

``basic``: the host configures logging (``logging.basicConfig``, its own format, INFO);
``none``: it configures nothing. At shutdown it prints the root logger's handlers."""

from __future__ import annotations

import logging
import sys

from aiohttp import web

import roomkey

HOST_FORMAT = "HOST|%(name)s|%(message)s"


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="host")


async def report_root(app: web.Application) -> None:
    handlers = [type(h).__name__ for h in logging.getLogger().handlers]
    print(f"ROOT_HANDLERS={handlers}", file=sys.stderr, flush=True)


def main() -> None:
    config, port, host_logging = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if host_logging == "basic":
        logging.basicConfig(level=logging.INFO, format=HOST_FORMAT, stream=sys.stderr)
    app = web.Application()
    app.router.add_get("/host", hello)
    # The public API only, as an application embedding roomkey writes it.
    roomkey.setup(app, roomkey.load_settings(config))
    app.on_shutdown.append(report_root)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
