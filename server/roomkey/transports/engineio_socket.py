"""A leaner Engine.IO socket: fewer tasks per connection, same packets on the wire.

python-engineio's ``AsyncSocket`` keeps, per WebSocket connection, besides aiohttp's own two
tasks: a writer task that waits on its queue through ``asyncio.wait_for`` (a second task per
wait), a fresh task per received message (also under ``wait_for``), and a task that sleeps
through every ping interval. Each is a task object, a coroutine frame and a timer: a few KB per
idle connection. ``LeanSocket`` keeps the same protocol with one writer task:

- the ping is a timer (``loop.call_later``) that queues the PING packet, not a sleeping task;
- on a WebSocket opened directly (not upgraded from long-polling), the reader loop runs in the
  connection's own handler task and waits with aiohttp's receive timeout, and the writer
  waits on the queue without ``wait_for``. A client silent for ``ping_interval +
  ping_timeout`` is still dropped: by the reader's timeout, and by the server's ping check.

An upgrade from long-polling keeps python-engineio's own handler. ``LeanSocketTable`` is the
server's ``sockets`` dict that turns every new socket into a ``LeanSocket`` (python-engineio
creates its sockets itself and has no factory for them).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket


class LeanSocket(AsyncSocket):  # type: ignore[misc]
    # Set by python-engineio's BaseSocket; declared for the type checker.
    connected: bool
    upgraded: bool
    _ping_timer: asyncio.TimerHandle | None = None

    def schedule_ping(self) -> None:
        # As python-engineio: only once the previous ping was answered (or at the start).
        if self.last_ping:
            self.last_ping: float | None = None
            self._ping_timer = asyncio.get_running_loop().call_later(
                self.server.ping_interval, self._ping
            )

    def _ping(self) -> None:
        self._ping_timer = None
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.queue.put_nowait(packet.Packet(packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        await super().close(wait=wait, abort=abort, reason=reason)

    async def _websocket_handler(self, ws: Any) -> None:
        receive = getattr(ws, "receive_data", None)
        if self.connected or receive is None:
            # An upgrade from long-polling (or a driver without receive_data): as before.
            await super()._websocket_handler(ws)
            return
        self.connected = True
        self.upgraded = True
        writer = asyncio.ensure_future(self._write_loop(ws))
        timeout = self.server.ping_interval + self.server.ping_timeout
        limit = self.server.max_http_buffer_size
        try:
            await self._read_loop(receive, timeout, limit)
        finally:
            await self.queue.put(None)  # lets the writer finish what is queued, then stop
            await writer
            await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

    async def _read_loop(self, receive: Any, wait_seconds: float, limit: int) -> None:
        while True:
            try:
                data = await receive(wait_seconds)
            except (asyncio.CancelledError, Exception):
                # Closed, timed out, or the handler was cancelled: clean up as engineio does.
                return
            if data is None or len(data) > limit:
                return
            try:
                await self.receive(packet.Packet(encoded_packet=data))
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                return
            except Exception:
                self.server.logger.exception("Unknown receive error")

    async def _write_loop(self, ws: Any) -> None:
        """Send what is queued, in order, until the ``None`` that ends the socket."""
        queue = self.queue
        stop = False
        while not stop:
            packets = [await queue.get()]
            queue.task_done()
            while not queue.empty():
                packets.append(queue.get_nowait())
                queue.task_done()
            try:
                for pkt in packets:
                    if pkt is None:
                        stop = True
                        break
                    await ws.send(pkt.encode())
            except Exception:
                break
        await ws.close()


class LeanSocketTable(dict[str, Any]):
    """An Engine.IO server's ``sockets``: each socket stored is made a ``LeanSocket``."""

    def __setitem__(self, sid: str, sock: Any) -> None:
        if type(sock) is AsyncSocket:
            sock.__class__ = LeanSocket
        super().__setitem__(sid, sock)
