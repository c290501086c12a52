"""The example application: an aiohttp app with its own login that embeds roomkey under
``/realtime`` and publishes from its own handler.

- ``POST /login`` ``{"user": "alice"}``: logs the user in with ``Roomkey.login`` (the
  browser's cookie then identifies them to roomkey's authorize endpoint and socket);
- ``POST /logout``: ``Roomkey.logout``;
- ``POST /notify`` ``{"to": "bob", "text": "..."}``: publishes ``notice`` on
  ``private-user-bob``, which only bob may join (the channel rules of the settings).

A real application would check a password at ``/login``; this one trusts the name.
"""

from __future__ import annotations

import os
import re
from typing import Any

from aiohttp import web

import roomkey

PREFIX = "/realtime"
USER_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")


async def _fields(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="send a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="send a JSON object")
    return body


def _user(value: Any) -> str:
    if not isinstance(value, str) or USER_RE.fullmatch(value) is None:
        raise web.HTTPBadRequest(text="a user name is 1 to 32 letters, digits, _ or -")
    return value


async def login(request: web.Request) -> web.Response:
    user = _user((await _fields(request)).get("user"))
    response = web.json_response({"user": user})
    await roomkey.Roomkey.of(request).login(response, user, {"name": user.title()})
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.json_response({})
    await roomkey.Roomkey.of(request).logout(request, response)
    return response


async def notify(request: web.Request) -> web.Response:
    fields = await _fields(request)
    to, text = _user(fields.get("to")), fields.get("text")
    if not isinstance(text, str) or not 0 < len(text) <= 500:
        raise web.HTTPBadRequest(text="text is 1 to 500 characters")
    await roomkey.Roomkey.of(request).publish([f"private-user-{to}"], "notice", {"text": text})
    return web.json_response({"sent": True})


def create_chat_app(settings: roomkey.Settings) -> web.Application:
    """The application, with roomkey mounted under ``PREFIX``."""
    app = web.Application()
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/notify", notify)
    roomkey.setup(app, settings, prefix=PREFIX)
    return app


def main() -> None:  # pragma: no cover - run by hand
    """``python -m chat.app``: serve on port 8080 with ``CHAT_CONFIG`` (a roomkey TOML
    file) or roomkey's development settings."""
    config = os.environ.get("CHAT_CONFIG")
    settings = roomkey.load_settings(config) if config else roomkey.development_settings()
    web.run_app(create_chat_app(settings), host="127.0.0.1", port=8080)


if __name__ == "__main__":  # pragma: no cover
    main()
