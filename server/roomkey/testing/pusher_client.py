"""The test client over Pusher's own protocol (protocol 7, JSON frames over WebSocket), as
pusher-js speaks it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from roomkey.testing.client import RoomkeyClient
from roomkey.testing.events import (
    MEMBER_ADDED,
    MEMBER_REMOVED,
    Event,
    Refused,
    Subscription,
)
from roomkey.testing.events import decoded as _decoded
from roomkey.testing.target import Target

__all__ = ["PusherClient"]

QUERY = "protocol=7&client=roomkey-testing&version=8.4.0"
_MEMBER_EVENTS = {
    "pusher_internal:member_added": MEMBER_ADDED,
    "pusher_internal:member_removed": MEMBER_REMOVED,
}


class PusherClient(RoomkeyClient):
    """``RoomkeyClient`` over the Pusher protocol (transport "pusher"). Its handshake
    identity can only be the session cookie (Pusher sends no token); the token, if any,
    goes to the authorize endpoint. One reader task per client, cancelled at ``close``;
    ``pusher:ping`` is answered."""

    transport = "pusher"

    def __init__(
        self,
        target: Target,
        *,
        token: str | None = None,
        origin: str | None = "",
        key: str | None = None,
    ) -> None:
        super().__init__(target, token=token, origin=origin, key=key)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._established: asyncio.Future[str] | None = None
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.ws.closed

    async def _open(self, timeout: float) -> None:
        headers = {"Origin": self.origin} if self.origin is not None else {}
        try:
            self.ws = await self.http.ws_connect(
                self.target.pusher_url(self.key, QUERY),
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeout),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise Refused("connect", exc.message, status=exc.status) from None
        self._established = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(self.ws), name="roomkey-testing-pusher")
        self.socket_id = await asyncio.wait_for(self._established, timeout)

    async def _close_socket(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            self._reader = None

    async def _send(self, event: str, data: Any, channel: str | None = None) -> None:
        if self.ws is None or self.ws.closed:
            raise RuntimeError("the socket is closed")
        frame: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            frame["channel"] = channel
        await self.ws.send_str(json.dumps(frame))

    async def _subscribe(self, channel: str, auth: dict[str, Any], timeout: float) -> Subscription:
        answer = asyncio.get_running_loop().create_future()
        self._answers[channel] = answer
        try:
            await self._send("pusher:subscribe", {"channel": channel, **auth})
            frame = await asyncio.wait_for(answer, timeout)
        finally:
            self._answers.pop(channel, None)
        if frame["event"] == "pusher:subscription_error":
            error = frame.get("data") or {}
            raise Refused(
                "subscribe",
                str(error.get("message") or error.get("error")),
                code=error.get("code"),
                status=error.get("status"),
                body=error,
            )
        data = _decoded(frame.get("data"))
        presence = data.get("presence") if isinstance(data, dict) else None
        return Subscription(channel, presence)

    async def unsubscribe(self, channel: str) -> None:
        await self._send("pusher:unsubscribe", {"channel": channel})

    async def trigger(self, channel: str, event: str, data: Any) -> None:
        await self._send(event, data, channel)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Every frame until the socket closes, each where it belongs."""
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            self._on_frame(json.loads(msg.data))
            if msg.data and '"pusher:ping"' in msg.data:
                await self._send("pusher:pong", {})
        why = f"the socket was closed (code {ws.close_code})"
        self.inbox.close(why)
        self._fail_waiters(why, ws.close_code)

    def _on_frame(self, frame: dict[str, Any]) -> None:
        event, channel = frame.get("event", ""), frame.get("channel")
        if event == "pusher:connection_established":
            if self._established is not None and not self._established.done():
                self._established.set_result(_decoded(frame.get("data"))["socket_id"])
        elif event == "pusher:error":
            error = _decoded(frame.get("data"))
            self.errors.append(error if isinstance(error, dict) else {"message": error})
        elif event in ("pusher_internal:subscription_succeeded", "pusher:subscription_error"):
            answer = self._answers.get(channel or "")
            if answer is not None and not answer.done():
                answer.set_result(frame)
        elif event in _MEMBER_EVENTS and channel is not None:
            data = _decoded(frame.get("data"))
            user_id = data.get("user_id") if isinstance(data, dict) else None
            self.inbox.put(Event(channel, _MEMBER_EVENTS[event], data, user_id))
        elif channel is not None:
            user_id = frame.get("user_id")
            raw = frame.get("data")
            self.inbox.put(Event(channel, event, _decoded(raw), user_id, raw))

    def _fail_waiters(self, why: str, close_code: int | None) -> None:
        error = self.errors[-1] if self.errors else {}
        if self._established is not None and not self._established.done():
            self._established.set_exception(
                Refused(
                    "connect",
                    str(error.get("message", why)),
                    code=error.get("code") or close_code,
                    body=error,
                )
            )
        for answer in self._answers.values():
            if not answer.done():
                answer.set_exception(Refused("subscribe", why, code=close_code))
