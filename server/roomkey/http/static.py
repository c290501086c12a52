"""The browser client, served as files: ``GET /roomkey.js`` and the two libraries it imports:
socket.io-client's ES module (``/vendor/socket.io-client/socket.io.esm.min.js``) and tweetnacl
(``/vendor/tweetnacl/nacl-fast.min.js``, imported for its side effect of defining
``self.nacl``: NaCl secretbox, to decrypt ``private-encrypted-`` channels).

Where they come from (``locate_web_root``, first found wins):

1. ``server.web_root``, when set (a directory holding ``roomkey.js``);
2. the copy inside the installed package (``roomkey/web/``, put there by the build: setup.py);
3. ``web/`` of the source checkout roomkey runs from (an editable install).

A web root is laid out as a built package's (``vendor/<package>/`` beside ``roomkey.js``) or as
the checkout's (``node_modules/<package>/...``, after ``npm ci`` in ``web/``); ``WebRoot`` knows
both. ``VENDORED`` lists the files; setup.py copies the same ones into a build.

``roomkey.js`` imports its dependencies by relative URLs, so a page on any origin can load
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


@dataclass(frozen=True)
class Vendored:
    """An npm package's browser files that roomkey.js imports, served under
    ``/vendor/{package}/``."""

    package: str
    dist: Path  # the folder holding the files inside the npm package
    files: Mapping[str, str]  # file name -> content type


VENDORED: tuple[Vendored, ...] = (
    Vendored(
        "socket.io-client",
        Path("dist"),
        {"socket.io.esm.min.js": JAVASCRIPT, "socket.io.esm.min.js.map": "application/json"},
    ),
    Vendored("tweetnacl", Path("."), {"nacl-fast.min.js": JAVASCRIPT}),
)


@dataclass(frozen=True)
class WebRoot:
    """A directory holding ``roomkey.js``, ``demo/`` and the browser files of ``VENDORED``."""

    path: Path

    def vendor(self, package: Vendored) -> Path:
        """The folder holding ``package``'s files: the packaged layout's, else the checkout's."""
        packaged = self.path / "vendor" / package.package
        if packaged.is_dir():
            return packaged
        return self.path / "node_modules" / package.package / package.dist

    def missing(self) -> str | None:
        """What keeps this root from serving the client (one line), or None."""
        if not (self.path / "roomkey.js").is_file():
            return f"{self.path} has no roomkey.js"
        for package in VENDORED:
            first = next(iter(package.files))
            if not (self.vendor(package) / first).is_file():
                return (
                    f"{self.path} has no {package.package} browser build "
                    f"(a checkout's web/ needs `npm ci` in {self.path})"
                )
        return None

    def files(self) -> dict[str, tuple[Path, str]]:
        """URL path -> (file, content type) of every client file."""
        table = {"/roomkey.js": (self.path / "roomkey.js", JAVASCRIPT)}
        for package in VENDORED:
            for name, content_type in package.files.items():
                url = f"/vendor/{package.package}/{name}"
                table[url] = (self.vendor(package) / name, content_type)
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


def add_routes(app: web.Application, web_root: Path | None, prefix: str = "") -> None:
    """Serve the client files from ``web_root`` under ``prefix``; without one, log why they
    are not served (``roomkey serve`` refuses to start instead: ``roomkey.startup``)."""
    if web_root is None:
        log.warning(
            "roomkey.js is not served: no web root (none configured, none in the package, "
            "no checkout); set server.web_root to roomkey's web/ directory"
        )
        return
    root = WebRoot(web_root)
    problem = root.missing()
    if problem is not None:
        log.warning("roomkey.js cannot load its modules: %s", problem)
    for url, (path, content_type) in root.files().items():
        app.router.add_get(prefix + url, _handler(path, content_type))


def _handler(path: Path, content_type: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return file_response(path, content_type, public=True)

    return handle
