"""The browser client, served as files: ``GET /roomkey.js``, the socket.io-client ES module
it imports (``/vendor/socket.io-client/socket.io.esm.min.js``) and tweetnacl, which it imports
for the side effect of defining ``self.nacl`` (``/vendor/tweetnacl/nacl-fast.min.js``: NaCl
secretbox, to decrypt ``private-encrypted-`` channels), straight from ``web/node_modules``: no
copy, no build step.

``roomkey.js`` imports its dependency by a relative URL, so a page on any origin can load
``<roomkey>/roomkey.js`` as a module; these files are public code, so they are answered with
``Access-Control-Allow-Origin: *`` (never with credentials). Only the listed files are served:
a request names a file from a fixed table, never a path on disk.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

import roomkey

log = logging.getLogger("roomkey.static")

JAVASCRIPT = "text/javascript; charset=utf-8"
VENDOR_PREFIX = "/vendor/socket.io-client/"
_SOCKETIO_DIST = Path("node_modules", "socket.io-client", "dist")
NACL_URL = "/vendor/tweetnacl/nacl-fast.min.js"
_NACL = Path("node_modules", "tweetnacl", "nacl-fast.min.js")
# URL path -> (file under the web root, content type)
CLIENT_FILES: Mapping[str, tuple[Path, str]] = {
    "/roomkey.js": (Path("roomkey.js"), JAVASCRIPT),
    VENDOR_PREFIX + "socket.io.esm.min.js": (_SOCKETIO_DIST / "socket.io.esm.min.js", JAVASCRIPT),
    VENDOR_PREFIX + "socket.io.esm.min.js.map": (
        _SOCKETIO_DIST / "socket.io.esm.min.js.map",
        "application/json",
    ),
    NACL_URL: (_NACL, JAVASCRIPT),
}


def locate_web_root(configured: str) -> Path | None:
    """The directory holding ``roomkey.js``: ``server.web_root`` when set (config validation
    checked it), else ``web/`` beside ``server/`` in the source checkout roomkey is installed
    from (editable install); None when there is none."""
    if configured:
        return Path(configured).resolve()
    candidate = Path(roomkey.__file__).resolve().parents[2] / "web"
    return candidate if (candidate / "roomkey.js").is_file() else None


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
    """Serve the client files from ``web_root``; without one, log why they are not served."""
    if web_root is None:
        log.warning(
            "roomkey.js is not served: no web/ directory next to the installed package; "
            "set server.web_root to roomkey's web/ directory"
        )
        return
    for needed in (_SOCKETIO_DIST, _NACL):
        if not (web_root / needed).exists():
            log.warning(
                "%s is missing: run `npm ci` in %s so that /roomkey.js can load its modules",
                needed,
                web_root,
            )
    for url, (relative, content_type) in CLIENT_FILES.items():
        app.router.add_get(url, _handler(web_root / relative, content_type))


def _handler(path: Path, content_type: str) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return file_response(path, content_type, public=True)

    return handle
