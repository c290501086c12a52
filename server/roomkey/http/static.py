"""The browser client, served as files: ``GET /roomkey.js`` and the socket.io-client ES module
it imports (``/vendor/socket.io-client/socket.io.esm.min.js``).

Where they come from (``locate_web_root``, first found wins):

1. ``server.web_root``, when set (a directory holding ``roomkey.js``);
2. the copy inside the installed package (``roomkey/web/``, put there by the build: setup.py);
3. ``web/`` of the source checkout roomkey runs from (an editable install).

A web root is laid out as a built package's (``vendor/socket.io-client/`` beside
``roomkey.js``) or as the checkout's (``node_modules/socket.io-client/dist/``, after ``npm ci``
in ``web/``); ``WebRoot`` knows both.

``roomkey.js`` imports its dependency by a relative URL, so a page on any origin can load
``<roomkey>/roomkey.js`` as a module; these files are public code, so they are answered with
``Access-Control-Allow-Origin: *`` (never with credentials). Only the listed files are served:
a request names a file from a fixed table, never a path on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

import roomkey

log = logging.getLogger("roomkey.static")

JAVASCRIPT = "text/javascript; charset=utf-8"
VENDOR_PREFIX = "/vendor/socket.io-client/"
PACKAGED_VENDOR = Path("vendor", "socket.io-client")  # a built package's layout
CHECKOUT_VENDOR = Path("node_modules", "socket.io-client", "dist")  # web/ after npm ci
# URL path -> (file in the socket.io-client directory, content type)
VENDOR_FILES: Mapping[str, tuple[str, str]] = {
    VENDOR_PREFIX + "socket.io.esm.min.js": ("socket.io.esm.min.js", JAVASCRIPT),
    VENDOR_PREFIX + "socket.io.esm.min.js.map": ("socket.io.esm.min.js.map", "application/json"),
}


@dataclass(frozen=True)
class WebRoot:
    """A directory holding ``roomkey.js``, ``demo/`` and socket.io-client's browser build."""

    path: Path

    @property
    def vendor(self) -> Path:
        """socket.io-client's directory: the packaged layout's, else the checkout's."""
        packaged = self.path / PACKAGED_VENDOR
        return packaged if packaged.is_dir() else self.path / CHECKOUT_VENDOR

    def missing(self) -> str | None:
        """What keeps this root from serving the client (one line), or None."""
        if not (self.path / "roomkey.js").is_file():
            return f"{self.path} has no roomkey.js"
        if not (self.vendor / "socket.io.esm.min.js").is_file():
            return (
                f"{self.path} has no socket.io-client browser build "
                f"(a checkout's web/ needs `npm ci` in {self.path})"
            )
        return None

    def files(self) -> dict[str, tuple[Path, str]]:
        """URL path -> (file, content type) of every client file."""
        table = {"/roomkey.js": (self.path / "roomkey.js", JAVASCRIPT)}
        for url, (name, content_type) in VENDOR_FILES.items():
            table[url] = (self.vendor / name, content_type)
        return table


def packaged_web_root() -> Path:
    """Where a built package carries its browser files (absent in a checkout)."""
    return Path(roomkey.__file__).resolve().parent / "web"


def checkout_web_root() -> Path:
    """``web/`` beside ``server/`` in the source checkout roomkey is imported from."""
    return Path(roomkey.__file__).resolve().parents[2] / "web"


def locate_web_root(configured: str) -> Path | None:
    """The directory holding ``roomkey.js``: ``server.web_root`` when set (config validation
    checked it), else the package's own copy, else the checkout's ``web/``; None when there
    is none."""
    if configured:
        return Path(configured).resolve()
    for candidate in (packaged_web_root(), checkout_web_root()):
        if (candidate / "roomkey.js").is_file():
            return candidate
    return None


def file_response(path: Path, content_type: str, *, public: bool = False) -> web.StreamResponse:
    """``path`` with revalidation on every use (ETag/Last-Modified, so an upgrade is seen at
    once); ``public`` adds ``Access-Control-Allow-Origin: *`` for cross-origin module loads."""
    if not path.is_file():
        raise web.HTTPNotFound(text=f"{path.name} is missing on the server")
    headers = {
        "Content-Type": content_type,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if public:
        headers["Access-Control-Allow-Origin"] = "*"
    return web.FileResponse(path, headers=headers)


def add_routes(app: web.Application, web_root: Path | None) -> None:
    """Serve the client files from ``web_root``; without one, log why they are not served
    (``roomkey serve`` refuses to start instead: ``roomkey.startup``)."""
    if web_root is None:
        log.warning(
            "roomkey.js is not served: no web root (none configured, none in the package, "
            "no checkout); set server.web_root to roomkey's web/ directory"
        )
        return
    root = WebRoot(web_root)
    problem = root.missing()
    if problem is not None:
        log.warning("roomkey.js cannot load socket.io-client: %s", problem)
    for url, (path, content_type) in root.files().items():
        app.router.add_get(url, _handler(path, content_type))


def _handler(path: Path, content_type: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return file_response(path, content_type, public=True)

    return handle
