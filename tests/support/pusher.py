"""Helpers for the Pusher-protocol tests: a raw WebSocket client (aiohttp) that speaks the
JSON frames, the authorize calls a page would make, and what the SDKs publish on an
encrypted channel."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import nacl.secret
import nacl.utils

from tests.support.apps import APP_KEY, MASTER_KEY, make_token
from tests.support.servers import Server


@dataclass
class RawPusher:
    """One socket speaking Pusher's protocol; ``next`` returns decoded frames in order."""

    ws: aiohttp.ClientWebSocketResponse
    socket_id: str = ""

    async def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        frame: dict[str, Any] = {"event": event}
        if data is not None:
            frame["data"] = data
        if channel is not None:
            frame["channel"] = channel
        await self.ws.send_str(json.dumps(frame))

    async def next(self, timeout: float = 3.0) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, f"expected a text frame, got {msg.type}"
        frame = json.loads(msg.data)
        assert isinstance(frame, dict)
        return frame

    async def next_event(self, event: str, timeout: float = 3.0) -> dict[str, Any]:
        """The next frame named ``event``, skipping others (at most 20)."""
        for _ in range(20):
            frame = await self.next(timeout)
            if frame["event"] == event:
                return frame
        raise AssertionError(f"no {event} within 20 frames")

    async def nothing(self, within: float = 0.3) -> None:
        try:
            msg = await self.ws.receive(timeout=within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {msg.data!r}")

    async def closed_with(self, timeout: float = 5.0) -> int | None:
        """Read until the close frame; its code."""
        for _ in range(50):
            msg = await self.ws.receive(timeout=timeout)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return self.ws.close_code
        raise AssertionError("socket did not close")

    async def subscribe(self, channel: str, **fields: Any) -> dict[str, Any]:
        """Subscribe and return the answer about this channel (success or error)."""
        await self.send("pusher:subscribe", {"channel": channel, **fields})
        for _ in range(20):
            frame = await self.next()
            if frame.get("channel") == channel and frame["event"] in (
                "pusher_internal:subscription_succeeded",
                "pusher:subscription_error",
            ):
                return frame
        raise AssertionError(f"no answer to subscribing {channel}")


class RawPusherFactory:
    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def __call__(
        self, server: Server, key: str = APP_KEY, protocol: str | None = "7", **kw: Any
    ) -> RawPusher:
        query = f"?protocol={protocol}&client=js&version=8.4.0" if protocol else ""
        ws = await self.http.ws_connect(
            f"{server.url.replace('http', 'ws')}{server.prefix}/app/{key}{query}", **kw
        )
        return RawPusher(ws)

    async def established(self, server: Server, **kw: Any) -> RawPusher:
        client = await self(server, **kw)
        first = await client.next()
        assert first["event"] == "pusher:connection_established"
        client.socket_id = json.loads(first["data"])["socket_id"]
        return client


async def channel_auth(server: Server, socket_id: str, channel: str, user_id: str = "42") -> Any:
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": socket_id, "channel_name": channel},
            headers={"Authorization": f"Bearer {make_token(user_id, name='User ' + user_id)}"},
        )
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def user_auth(server: Server, socket_id: str, user_id: str, **claims: Any) -> Any:
    """The user-auth endpoint's answer for ``user_id`` (``claims`` go into the token, e.g.
    ``watchlist``)."""
    token = make_token(user_id, name="User " + user_id, **claims)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}/pusher/user-auth",
            data={"socket_id": socket_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert resp.status == 200, await resp.text()
        return await resp.json()


def encrypt_like_the_sdk(channel: str, data: Any) -> str:
    """What the Python SDK publishes on an encrypted channel (encryption_master_key_base64)."""
    key = hashlib.sha256(channel.encode() + MASTER_KEY).digest()
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(key).encrypt(json.dumps(data).encode(), nonce)
    return json.dumps(
        {
            "nonce": base64.b64encode(nonce).decode(),
            "ciphertext": base64.b64encode(box.ciphertext).decode(),
        }
    )
