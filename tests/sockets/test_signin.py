"""User sign-in over Socket.IO and cluster-wide termination of a user's connections."""

from __future__ import annotations

import aiohttp

from tests.support.apps import make_token
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient


async def _user_auth(server: Server, socket_id: str, user_id: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}/pusher/user-auth",
            data={"socket_id": socket_id},
            headers={"Authorization": f"Bearer {make_token(user_id, name='Ada')}"},
        )
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def test_signin_binds_user_and_opens_their_channel(
    server: Server, connect: ConnectClient
) -> None:
    client = await connect(server)
    body = await _user_auth(server, client.socket_id, "u1")
    assert await client.call("signin", body) == {"user_data": body["user_data"]}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["#server-to-user-u1"], "hello", "for u1")
    assert (await client.next("event"))["data"] == "for u1"
    # Another user's channel stays closed.
    refused = await client.subscribe("#server-to-user-u2")
    assert refused["error"]["code"] == 4009


async def test_signin_with_signature_for_another_socket_is_refused(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    body = await _user_auth(server, a.socket_id, "u1")
    answer = await b.call("signin", body)
    assert answer["error"]["code"] == 4009


async def test_terminate_user_closes_only_that_users_connections(
    server: Server, connect: ConnectClient
) -> None:
    a = await connect(server)
    b = await connect(server)
    await a.call("signin", await _user_auth(server, a.socket_id, "gone"))
    await b.call("signin", await _user_auth(server, b.socket_id, "stays"))
    rt = server.runtime
    await rt.hub.terminate_user(rt.apps.default, "gone")
    error = await a.next("error")
    assert error["code"] == 4009
    await a.wait_disconnected()
    assert b.client.connected
