"""The test client over Socket.IO (python-socketio's asyncio client)."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio

from roomkey.testing.client import RoomkeyClient
from roomkey.testing.events import (
    MEMBER_ADDED,
    MEMBER_REMOVED,
    Event,
    Refused,
    Subscription,
    decoded,
)
from roomkey.testing.target import Target

__all__ = ["SocketIOClient"]


class SocketIOClient(RoomkeyClient):
    """``RoomkeyClient`` over Socket.IO: ``websocket_only`` connects straight over WebSocket
    (transport "socketio-websocket"), else with Socket.IO's default transports, HTTP
    long-polling then the upgrade (transport "socketio"). The token, if any, is also sent
    in the handshake's ``auth`` (the socket is then identified by it)."""

    def __init__(
        self,
        target: Target,
        *,
        websocket_only: bool = False,
        token: str | None = None,
        origin: str | None = "",
        key: str | None = None,
    ) -> None:
        super().__init__(target, token=token, origin=origin, key=key)
        self.websocket_only = websocket_only
        self.transport = "socketio-websocket" if websocket_only else "socketio"
        # The client shares the cookie jar: the handshake carries the session cookie.
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self.http)
        self._established: asyncio.Future[dict[str, Any]] | None = None
        self._refusal: Any = None
        sio = self.sio
        sio.on("connection_established", self._on_established)
        sio.on("event", self._on_event)
        sio.on("member_added", self._on_member(MEMBER_ADDED))
        sio.on("member_removed", self._on_member(MEMBER_REMOVED))
        sio.on("error", self._on_error)
        sio.on("connect_error", self._on_connect_error)
        sio.on("disconnect", self._on_disconnect)

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected)

    async def _open(self, timeout: float) -> None:
        self._established = asyncio.get_running_loop().create_future()
        auth: dict[str, Any] = {"key": self.key}
        if self.token is not None:
            auth["token"] = self.token
        headers = {"Origin": self.origin} if self.origin is not None else {}
        try:
            await self.sio.connect(
                self.target.url,
                auth=auth,
                headers=headers,
                transports=["websocket"] if self.websocket_only else ["polling", "websocket"],
                socketio_path=self.target.socketio_path,
                wait_timeout=timeout,
            )
        except socketio.exceptions.ConnectionError as exc:
            data = self._refusal if isinstance(self._refusal, dict) else {}
            raise Refused(
                "connect", str(data.get("message") or exc), code=data.get("code"), body=data
            ) from None
        established = await asyncio.wait_for(self._established, timeout)
        self.socket_id = established["socket_id"]

    async def _close_socket(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        # python-socketio leaves its client's tasks to finish on their own.
        await self.sio.shutdown()

    async def _call(self, name: str, payload: Any, stage: str, timeout: float) -> dict[str, Any]:
        answer = await self.sio.call(name, payload, timeout=timeout)
        if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            error = answer["error"]
            raise Refused(stage, str(error.get("message")), code=error.get("code"), body=answer)
        assert isinstance(answer, dict), answer
        return answer

    async def _subscribe(self, channel: str, auth: dict[str, Any], timeout: float) -> Subscription:
        answer = await self._call("subscribe", {"channel": channel, **auth}, "subscribe", timeout)
        return Subscription(channel, answer.get("presence"))

    async def unsubscribe(self, channel: str) -> None:
        await self._call("unsubscribe", {"channel": channel}, "unsubscribe", 5.0)

    async def trigger(self, channel: str, event: str, data: Any) -> None:
        payload = {"channel": channel, "event": event, "data": data}
        await self._call("trigger", payload, "trigger", 5.0)

    # -- what the server sends -------------------------------------------------------

    def _on_established(self, data: Any) -> None:
        if self._established is not None and not self._established.done():
            self._established.set_result(data)

    def _on_event(self, data: Any) -> None:
        raw = data.get("data")
        self.inbox.put(
            Event(data["channel"], data["event"], decoded(raw), data.get("user_id"), raw)
        )

    def _on_member(self, name: str) -> Any:
        def handle(data: Any) -> None:
            body = {k: v for k, v in data.items() if k != "channel"}
            self.inbox.put(Event(data["channel"], name, body, data.get("user_id")))

        return handle

    def _on_error(self, data: Any) -> None:
        self.errors.append(data if isinstance(data, dict) else {"message": data})

    def _on_connect_error(self, data: Any = None) -> None:
        self._refusal = data

    def _on_disconnect(self, reason: Any = None) -> None:
        self.inbox.close(f"the socket was closed ({reason})")
