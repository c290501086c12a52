"""Engine.IO socket queues that know how many bytes they hold.

The Socket.IO transport queues Engine.IO packets directly on each socket; a client that stops
reading leaves them piling up. ``MeteredQueue`` keeps a running byte count so the transport
can drop the client once ``limits.max_outbound_buffer_bytes`` is exceeded.
"""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import socketio

SIZE_ATTR = "roomkey_size"


def packet_size(pkt: Any) -> int:
    """Bytes of an Engine.IO packet's payload (cached on the packet: shared packets are
    measured once, not once per recipient)."""
    if pkt is None:
        return 0
    size = getattr(pkt, SIZE_ATTR, None)
    if size is None:
        data = getattr(pkt, "data", None)
        if isinstance(data, str):
            size = len(data.encode())
        elif isinstance(data, bytes | bytearray):
            size = len(data)
        else:
            size = 8
        size += 1  # the packet type
        try:
            setattr(pkt, SIZE_ATTR, size)
        except AttributeError:
            pass
    return int(size)


class MeteredQueue(asyncio.Queue[Any]):
    """An unbounded ``asyncio.Queue`` with ``bytes``: the payload bytes it holds now."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bytes = 0

    def _put(self, item: Any) -> None:
        self.bytes += packet_size(item)
        super()._put(item)

    def _get(self) -> Any:
        item = super()._get()
        self.bytes -= packet_size(item)
        return item

    def drop_all(self) -> int:
        """Discard everything queued (the client will never read it); the count dropped."""
        dropped = 0
        while not self.empty():
            self.get_nowait()
            self.task_done()
            dropped += 1
        return dropped


class MeteredEngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    def create_queue(self, *args: Any, **kwargs: Any) -> MeteredQueue:
        return MeteredQueue(*args, **kwargs)

    async def disconnect(self, sid: str | None = None) -> None:
        """Close one socket without waiting for the client to fetch its CLOSE packet.

        Engine.IO's own ``disconnect`` waits for the socket's queue to drain; it calls it on a
        malformed or oversized long-polling POST, so a client that then never polls again
        would hold that request handler forever. The CLOSE packet is still queued.
        """
        if sid is None:
            await super().disconnect()
            return
        socket = self.sockets.get(sid)
        if socket is not None:
            await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
            self.sockets.pop(sid, None)


class MeteredSocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    """A python-socketio server whose Engine.IO sockets use ``MeteredQueue``."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return MeteredEngineIOServer
