"""Watchlist events on both transports (docs/protocol.md, "Watchlist events"): a user signed
in with a ``watchlist`` in ``user_data`` hears ``online`` for watched users already online
and as they come, ``offline`` when their last signed-in connection goes; a watchlist over the
app's limit refuses the sign-in."""

from __future__ import annotations

import json

import aiohttp

from roomkey.config import Limits
from roomkey.core.signing import sign_user
from tests.support.apps import APP_KEY, APP_SECRET, make_settings, make_token
from tests.support.pusher import RawPusherFactory, user_auth
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient


async def _signin(server: Server, client: SioClient, user_id: str, **claims: object) -> None:
    body = await user_auth(server, client.socket_id, user_id, **claims)
    assert await client.call("signin", body) == {"user_data": body["user_data"]}


async def test_socketio_online_and_offline(server: Server, connect: ConnectClient) -> None:
    already = await connect(server)
    await _signin(server, already, "b")

    watcher = await connect(server)
    body = await user_auth(server, watcher.socket_id, "a", watchlist=["b", "c"])
    assert json.loads(body["user_data"])["watchlist"] == ["b", "c"]
    await watcher.call("signin", body)
    assert await watcher.next("watchlist") == {"event": "online", "user_ids": ["b"]}

    c1 = await connect(server)
    c2 = await connect(server)
    await _signin(server, c1, "c")
    assert await watcher.next("watchlist") == {"event": "online", "user_ids": ["c"]}
    await _signin(server, c2, "c")  # a second connection: still online, nothing new
    await watcher.nothing("watchlist", within=0.2)
    await c1.client.disconnect()
    await watcher.nothing("watchlist", within=0.2)
    await c2.client.disconnect()
    assert await watcher.next("watchlist") == {"event": "offline", "user_ids": ["c"]}
    # Users not on the watchlist are never announced; a handshake identity is not a sign-in.
    stranger = await connect(server, token=make_token("b"))
    await _signin(server, stranger, "z")
    await watcher.nothing("watchlist", within=0.2)


async def test_watchlist_over_the_limit_refuses_the_signin(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(make_settings(limits=Limits(max_watchlist_users=2)))
    client = await connect(server)
    user_data = json.dumps({"id": "a", "watchlist": ["1", "2", "3"]})
    auth = sign_user(APP_KEY, APP_SECRET, client.socket_id, user_data)
    answer = await client.call("signin", {"auth": auth, "user_data": user_data})
    assert answer["error"]["code"] == 4100
    assert "over the limit of 2" in answer["error"]["message"]
    # Nothing changed: the connection may sign in again with a watchlist that fits.
    user_data = json.dumps({"id": "a", "watchlist": ["1", "2"]})
    auth = sign_user(APP_KEY, APP_SECRET, client.socket_id, user_data)
    assert await client.call("signin", {"auth": auth, "user_data": user_data}) == {
        "user_data": user_data
    }
    # The user-auth endpoint refuses an identity whose watchlist claim is over the limit.
    async with aiohttp.ClientSession() as http:
        token = make_token("a", watchlist=["1", "2", "3"])
        resp = await http.post(
            f"{server.url}/pusher/user-auth",
            data={"socket_id": client.socket_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status == 400
        assert "max_watchlist_users" in (await resp.json())["error"]["message"]


async def test_pusher_protocol_watchlist_events(
    server: Server, raw_pusher: RawPusherFactory
) -> None:
    watcher = await raw_pusher.established(server)
    body = await user_auth(server, watcher.socket_id, "a", watchlist=["b"])
    await watcher.send("pusher:signin", body)
    await watcher.next_event("pusher:signin_success")
    watched = await raw_pusher.established(server)
    await watched.send("pusher:signin", await user_auth(server, watched.socket_id, "b"))
    await watched.next_event("pusher:signin_success")
    online = await watcher.next_event("pusher_internal:watchlist_events")
    assert online == {
        "event": "pusher_internal:watchlist_events",
        "data": '{"events":[{"name":"online","user_ids":["b"]}]}',
    }
    await watched.ws.close()
    offline = await watcher.next_event("pusher_internal:watchlist_events")
    assert json.loads(offline["data"]) == {"events": [{"name": "offline", "user_ids": ["b"]}]}
