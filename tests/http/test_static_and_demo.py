"""The static client files and the development demo's endpoints, over real HTTP and a real
Socket.IO client against roomkey on loopback."""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import jwt as pyjwt
import pytest

from roomkey.config import (
    DEV_JWT_SECRET,
    AppSettings,
    ConfigError,
    JwtSettings,
    Settings,
    development_settings,
    parse_settings,
)
from roomkey.http.demo import TOKEN_TTL_SECONDS
from roomkey.identity.base import Identity
from tests.support.apps import APP_KEY, APP_SECRET, JWT_SECRET, make_settings, make_token
from tests.support.paths import WEB_DIR
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient

WEB = WEB_DIR


def dev_settings() -> Settings:
    """The test apps in development mode, with the development preset's channel rules."""
    return make_settings(server={"mode": "development"}, rules=development_settings().apps[0].rules)


def jar_session() -> aiohttp.ClientSession:
    # The demo's cookie is set for 127.0.0.1; aiohttp keeps IP cookies only when unsafe.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def log_in(http: aiohttp.ClientSession, server: Server, name: str) -> dict[str, str]:
    resp = await http.post(f"{server.url}/demo/login", json={"name": name})
    assert resp.status == 200, await resp.text()
    me: dict[str, str] = await resp.json()
    return me


async def test_client_files_are_served_to_any_origin(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{server.url}/roomkey.js", headers={"Origin": "https://a.example"})
        assert resp.status == 200
        assert resp.content_type == "text/javascript"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in resp.headers
        source = await resp.text()
        assert "export class RoomKey" in source
        # The dependency is imported by a relative URL that roomkey serves itself.
        imported = re.search(r'import \{ io \} from "\./([^"]+)"', source)
        assert imported is not None
        dep = await http.get(f"{server.url}/{imported.group(1)}")
        assert dep.status == 200
        assert dep.content_type == "text/javascript"
        assert "export{" in await dep.text()
        # tweetnacl (decrypting private-encrypted- channels) the same way, for its side effect.
        nacl = re.search(r'import "\./(vendor/tweetnacl/[^"]+)"', source)
        assert nacl is not None
        dep = await http.get(f"{server.url}/{nacl.group(1)}")
        assert dep.status == 200
        assert dep.content_type == "text/javascript"
        assert dep.headers["Access-Control-Allow-Origin"] == "*"
        assert "secretbox" in await dep.text()
        # Nothing but the listed files: no paths into node_modules.
        for path in (
            "/vendor/socket.io-client/socket.io.js",
            "/vendor/socket.io-client/../package.json",
            "/vendor/socket.io-client/%2e%2e/%2e%2e/package.json",
            "/vendor/tweetnacl/nacl.js",
            "/vendor/tweetnacl/package.json",
        ):
            assert (await http.get(f"{server.url}{path}")).status == 404, path


async def test_production_mode_has_no_demo(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{server.url}/")).status == 404
        assert (await http.get(f"{server.url}/jwt")).status == 404
        assert (await http.post(f"{server.url}/demo/login", json={"name": "A"})).status == 404
        assert (await http.post(f"{server.url}/demo/token", json={"name": "A"})).status == 404


async def test_cookie_login_is_an_identity_for_authorize(start_server: StartServer) -> None:
    server = await start_server(dev_settings())
    async with jar_session() as http:
        page = await http.get(f"{server.url}/")
        assert page.status == 200
        assert 'src="/demo/demo.js"' in await page.text()
        config = await (await http.get(f"{server.url}/demo/config")).json()
        assert config == {"key": APP_KEY, "auth_endpoint": "/pusher/auth"}

        me = await log_in(http, server, "  Alice ")
        assert me["name"] == "Alice"
        assert re.fullmatch(r"u[0-9a-f]{8}", me["user_id"])
        assert await (await http.get(f"{server.url}/demo/me")).json() == me
        own = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1.2", "channel_name": f"private-user-{me['user_id']}"},
        )
        assert own.status == 200
        other = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1.2", "channel_name": "private-user-someone-else"},
        )
        assert other.status == 403

        assert (await http.post(f"{server.url}/demo/logout")).status == 200
        assert (await http.get(f"{server.url}/demo/me")).status == 401
        after = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1.2", "channel_name": f"private-user-{me['user_id']}"},
        )
        assert after.status == 401


async def test_login_refuses_bad_names_and_foreign_origins(start_server: StartServer) -> None:
    server = await start_server(dev_settings())
    async with jar_session() as http:
        for name in ("", "   ", "x" * 33, "a\nb", 7):
            resp = await http.post(f"{server.url}/demo/login", json={"name": name})
            assert resp.status == 400, name
            assert "name" in (await resp.json())["error"]["message"]
        resp = await http.post(
            f"{server.url}/demo/login",
            json={"name": "Eve"},
            headers={"Origin": "https://evil.example"},
        )
        assert resp.status == 403
        assert "Set-Cookie" not in resp.headers
        assert len(http.cookie_jar) == 0


async def test_chat_is_stamped_with_the_verified_identity(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(dev_settings())
    listener = await connect(server, token=make_token("listener"))
    assert await listener.subscribe("presence-room-lobby")
    async with jar_session() as http:
        me = await log_in(http, server, "Alice")
        resp = await http.post(
            f"{server.url}/demo/chat",
            json={
                "channel": "presence-room-lobby",
                "text": " hi ",
                "name": "Mallory",
                "user_id": "mallory",
            },
        )
        assert resp.status == 200, await resp.text()
    event = await listener.next("event")
    assert event["channel"] == "presence-room-lobby"
    assert event["event"] == "chat-message"
    assert isinstance(event["data"], str)  # JSON text, as a REST publish carries it
    message = json.loads(event["data"])
    assert {k: message[k] for k in ("user_id", "name", "text")} == {
        "user_id": me["user_id"],
        "name": "Alice",
        "text": "hi",
    }


def closed_room_policy(app: AppSettings, identity: Identity, channel: str) -> bool:
    return channel != "presence-closed"


async def test_chat_refuses_what_the_sender_may_not_do(start_server: StartServer) -> None:
    server = await start_server(dev_settings(), policy=closed_room_policy)
    async with jar_session() as http:
        anonymous = await http.post(
            f"{server.url}/demo/chat", json={"channel": "presence-room-x", "text": "hi"}
        )
        assert anonymous.status == 401
        await log_in(http, server, "Alice")
        cases = {
            "presence-closed": 403,  # the channel policy says no
            "private-user-bob": 400,  # not a chat channel
            "bad channel!": 400,
        }
        for channel, status in cases.items():
            resp = await http.post(
                f"{server.url}/demo/chat", json={"channel": channel, "text": "hi"}
            )
            assert resp.status == status, channel
        too_long = await http.post(
            f"{server.url}/demo/chat", json={"channel": "presence-room-x", "text": "x" * 501}
        )
        assert too_long.status == 400


async def test_wave_reaches_only_the_users_private_channel(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server(dev_settings())
    bob = await connect(server, token=make_token("bob"))
    carol = await connect(server, token=make_token("carol"))
    assert await bob.subscribe("private-user-bob") == {"channel": "private-user-bob"}
    assert await carol.subscribe("private-user-carol") == {"channel": "private-user-carol"}
    async with jar_session() as http:
        me = await log_in(http, server, "Alice")
        resp = await http.post(f"{server.url}/demo/wave", json={"to": "bob"})
        assert resp.status == 200
        bad = await http.post(f"{server.url}/demo/wave", json={"to": "x y"})
        assert bad.status == 400
    event = await bob.next("event")
    assert event["event"] == "wave"
    assert json.loads(event["data"]) == {"user_id": me["user_id"], "name": "Alice"}
    await carol.nothing("event")


async def test_demo_token_is_a_short_lived_jwt_roomkey_accepts(
    start_server: StartServer, connect: ConnectClient
) -> None:
    # Signed with the development preset's public JWT secret, the only one the demo uses.
    server = await start_server(replace(dev_settings(), jwt=JwtSettings(secret=DEV_JWT_SECRET)))
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{server.url}/demo/token", data={"name": "Carol"})
        assert resp.status == 200
        assert "Set-Cookie" not in resp.headers
        body = await resp.json()
        auth = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1.2", "channel_name": "presence-room-lobby"},
            headers={"Authorization": f"Bearer {body['token']}"},
        )
        assert auth.status == 200
        grant = await auth.json()
    claims = pyjwt.decode(body["token"], DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == body["user_id"]
    assert claims["name"] == "Carol"
    assert claims["exp"] - claims["iat"] == TOKEN_TTL_SECONDS == body["expires_in"]
    assert abs(claims["iat"] - time.time()) < 60
    assert json.loads(grant["channel_data"]) == {
        "user_id": body["user_id"],
        "user_info": {"name": "Carol"},
    }
    assert grant["auth"].startswith(f"{APP_KEY}:")
    # The same token identifies a socket at the handshake.
    client = await connect(server, token=body["token"])
    ack = await client.subscribe("presence-room-lobby")
    assert ack["presence"]["hash"] == {body["user_id"]: {"name": "Carol"}}
    assert APP_SECRET not in json.dumps(body)


async def test_demo_token_is_off_with_a_jwt_secret_of_ones_own(start_server: StartServer) -> None:
    server = await start_server(dev_settings())  # jwt.secret: the tests' own
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{server.url}/demo/token", data={"name": "Carol"})
        body = await resp.json()
    assert resp.status == 403
    assert "token" not in body
    assert body["error"]["code"] == 4009
    assert body["error"]["message"].startswith("the JWT demo is off")
    assert JWT_SECRET not in json.dumps(body)


def test_web_root_setting_is_checked(tmp_path: Path) -> None:
    base = {"apps": [{"id": "1", "key": "k", "secret": "s" * 16}]}
    with pytest.raises(ConfigError) as err:
        parse_settings({**base, "server": {"web_root": str(tmp_path)}})
    assert any(e.startswith("server.web_root:") for e in err.value.errors)
    (tmp_path / "roomkey.js").write_text("export const custom = 1;\n")
    settings = parse_settings({**base, "server": {"web_root": str(tmp_path)}})
    assert settings.server.web_root == str(tmp_path)


async def test_web_root_setting_picks_the_served_client(
    start_server: StartServer, tmp_path: Path
) -> None:
    (tmp_path / "roomkey.js").write_text("export const custom = 1;\n")
    server = await start_server(make_settings(server={"web_root": str(tmp_path)}))
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{server.url}/roomkey.js")
        assert await resp.text() == "export const custom = 1;\n"
        # socket.io-client is not there: a clear 404, not a crash.
        dep = await http.get(f"{server.url}/vendor/socket.io-client/socket.io.esm.min.js")
        assert dep.status == 404
    assert (WEB / "roomkey.js").is_file()
