"""Real applications that log users in, for the identity tests: an aiohttp application with
aiohttp-session and the storage a test gives it, served in the test's loop; and the page
both it and the Express app (tests/support/express_app.py) serve to a browser, which logs in
at the app and then asks roomkey (loaded from ``?roomkey=``) for a presence channel through
the authorize endpoint and for a private channel on the socket's handshake identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp_session import AbstractStorage, get_session, new_session
from aiohttp_session import setup as setup_sessions

LOGIN_PAGE = """<!doctype html><meta charset="utf-8"><title>app</title>
<script type="module">
  const params = new URLSearchParams(location.search);
  const base = params.get("roomkey");
  window.login = async (user, name) => {
    const r = await fetch("/login", {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify({user, name})});
    return r.status;
  };
  window.joinRoomkey = async (channel, privateChannel) => {
    const { RoomKey } = await import(base + "/roomkey.js");
    const rk = new RoomKey(base, {key: params.get("key"), authEndpoint: base + "/pusher/auth"});
    window.rk = rk;
    const room = rk.subscribe(channel);
    const result = {};
    room.bind("subscription_error", (err) => { result.error = [err.status, err.message]; });
    try { await room.ready; result.me = room.members.me; } catch (e) { result.error = String(e); }
    // No auth: the socket's handshake identity (the cookie) decides.
    result.handshake = await rk._call("subscribe", {channel: privateChannel});
    return result;
  };
  document.body.dataset.ready = "true";
</script>"""


def aiohttp_login_app(storage: AbstractStorage) -> web.Application:
    """``POST /login`` ``{"user", "name"}`` puts ``user_id`` and ``name`` in a new session;
    ``POST /logout`` invalidates it; ``GET /whoami``; ``GET /`` the login page."""
    app = web.Application()
    setup_sessions(app, storage)

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=LOGIN_PAGE, content_type="text/html")

    async def login(request: web.Request) -> web.Response:
        body = await request.json()
        session = await new_session(request)
        session["user_id"] = body["user"]
        session["name"] = body.get("name", "")
        return web.json_response({"user": body["user"]})

    async def logout(request: web.Request) -> web.Response:
        session = await get_session(request)
        session.invalidate()
        return web.json_response({})

    async def whoami(request: web.Request) -> web.Response:
        session = await get_session(request)
        return web.json_response({"user_id": session.get("user_id")})

    app.router.add_get("/", page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/whoami", whoami)
    return app


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a free loopback port in this loop; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
