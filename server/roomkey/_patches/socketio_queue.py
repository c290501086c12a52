"""Engine.IO socket queues that know how many bytes they hold.

The Socket.IO transport queues Engine.IO packets directly on each socket; a client that stops
reading leaves them piling up. ``MeteredQueue`` keeps a running byte count so the transport
can drop the client once ``limits.max_outbound_buffer_bytes`` is exceeded.

``MeteredSocketIOServer`` puts ``MeteredEngineIOServer`` under python-socketio through its
private ``AsyncServer._engineio_server_class()`` (what its constructor builds its Engine.IO
server with); that server's public ``create_queue`` is what python-engineio's ``BaseSocket``
builds each socket's queue with. Every bound and check on Socket.IO sockets rests on these,
so they are a guard with no safe fallback (``shape_problems``). A packet's size is cached
on the python-engineio ``Packet`` object itself (an attribute added to a library object,
``SIZE_ATTR``; ``packet_size_shape_problems``): where that is refused it is measured again
for each recipient.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import engineio
import socketio

from roomkey._patches import engineio_direct, engineio_websocket
from roomkey._patches.engineio_direct import OriginCheck
from roomkey._patches.engineio_socket import CheckedSocketTable, LeanSocketTable
from roomkey._patches.shape import SILENT, method

SIZE_ATTR = "roomkey_size"


def remember_size(pkt: Any, size: int) -> None:
    """Cache ``size`` (bytes, the type included) on ``pkt`` for ``packet_size``: a packet
    built once and queued for many recipients is measured once."""
    try:
        setattr(pkt, SIZE_ATTR, size)
    except AttributeError:
        pass  # a packet class that takes no new attribute: measured per recipient


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
        remember_size(pkt, size)
    return int(size)


class MeteredQueue:
    """An unbounded FIFO of Engine.IO packets with ``bytes``: the payload bytes it holds now.

    It implements the part of ``asyncio.Queue`` that python-engineio uses (``put``,
    ``put_nowait``, ``get``, ``get_nowait``, ``task_done``, ``join``, ``empty``, ``qsize``),
    with the same semantics, but costs almost nothing while idle instead of
    ``asyncio.Queue``'s three deques and an event (about 2 KB per idle connection): its deque,
    its list of getters and its join event are made only when used. ``_queue`` and ``_getters`` keep
    ``asyncio.Queue``'s meaning: a getter listed in ``_getters`` is waiting with nothing in
    hand (``engineio_websocket.idle_websocket`` relies on that).
    """

    __slots__ = ("_finished", "_getters", "_queue", "_unfinished", "bytes", "on_put")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Both made on first use (an empty deque alone is over 500 bytes, and most sockets
        # have nothing queued nearly all the time); ``_queue`` goes back to ``()`` once
        # drained.
        self._queue: deque[Any] | tuple[()] = ()
        self._getters: list[asyncio.Future[None]] | tuple[()] = ()
        self._unfinished = 0
        self._finished: asyncio.Event | None = None
        self.bytes = 0
        # Called after each put: a socket whose writer runs only while there is something to
        # send starts it here (``LeanSocket.serve_websocket``).
        self.on_put: Callable[[], None] | None = None

    def qsize(self) -> int:
        return len(self._queue)

    def empty(self) -> bool:
        return not self._queue

    def full(self) -> bool:
        return False

    def put_nowait(self, item: Any) -> None:
        queue = self._queue
        if not isinstance(queue, deque):
            queue = self._queue = deque()
        queue.append(item)
        self.bytes += packet_size(item)
        self._unfinished += 1
        if self._finished is not None:
            self._finished.clear()
        self._wakeup_next()
        if self.on_put is not None:
            self.on_put()

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        queue = self._queue
        if not queue:
            raise asyncio.QueueEmpty
        assert isinstance(queue, deque)
        item = queue.popleft()
        if not queue:
            self._queue = ()
        self.bytes -= packet_size(item)
        return item

    async def get(self) -> Any:
        while not self._queue:
            getter = asyncio.get_running_loop().create_future()
            if not isinstance(self._getters, list):
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()  # in case it was not woken yet
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                if self._queue and not getter.cancelled():
                    self._wakeup_next()  # it was woken: pass the wake-up on
                raise
        return self.get_nowait()

    def _wakeup_next(self) -> None:
        getters = self._getters
        while getters:
            assert isinstance(getters, list)
            getter = getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                break

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._finished is not None:
            self._finished.set()

    async def join(self) -> None:
        if self._unfinished:
            if self._finished is None:
                self._finished = asyncio.Event()
            await self._finished.wait()

    def drop_all(self) -> int:
        """Discard everything queued (the client will never read it); the count dropped."""
        dropped = 0
        while not self.empty():
            self.get_nowait()
            self.task_done()
            dropped += 1
        return dropped


class MeteredEngineIOServer(engineio.AsyncServer):  # type: ignore[misc]
    """Engine.IO sockets with metered queues and, by default, the lean socket
    (``engineio_socket.LeanSocket``: fewer tasks per connection)."""

    lean_sockets = True
    sockets: dict[str, Any]
    # Told the sid of a socket that sent something that is not Engine.IO, before the socket
    # is closed (engineio_socket); the transport sets it to log and count the refusal.
    on_not_engineio: Callable[[str | None], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.use_lean_sockets(True)

    def patch(
        self,
        *,
        compress: bool,
        lean_sockets: bool,
        allow_origin: OriginCheck,
        takeover: engineio_direct.Takeover,
    ) -> None:
        """Everything roomkey changes on this server, in one call: WebSockets opened with
        ``compress`` (permessage-deflate) through ``engineio_websocket``'s driver, and with
        ``lean_sockets`` the direct handshake (``engineio_direct``, its sockets served as
        ``takeover`` says) and ``LeanSocket``s, else python-engineio's handshake with
        ``CheckedSocket``s. ``allow_origin``: the origin check of the direct handshake."""
        engineio_websocket.install(self, compress=compress)
        if lean_sockets:
            engineio_direct.install(self, allow_origin, takeover)
        self.use_lean_sockets(lean_sockets)

    def use_lean_sockets(self, on: bool) -> None:
        """Whether sockets created from now on are ``LeanSocket``s
        (``performance.lean_sockets``)."""
        self.lean_sockets = on
        self.sockets = LeanSocketTable(self.sockets) if on else CheckedSocketTable(self.sockets)

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
            self.use_lean_sockets(self.lean_sockets)  # engineio reset it to a dict
            return
        socket = self.sockets.get(sid)
        if socket is not None:
            await socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
            self.sockets.pop(sid, None)


class MeteredSocketIOServer(socketio.AsyncServer):  # type: ignore[misc]
    """A python-socketio server whose Engine.IO sockets use ``MeteredQueue``."""

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return MeteredEngineIOServer


def shape_problems(socketio_server_class: type, socket_class: type) -> list[str]:
    """The guard's shape: ``socketio_server_class`` (python-socketio's ``AsyncServer``) builds
    its Engine.IO server with ``_engineio_server_class()``, and python-engineio's socket
    (``socket_class``) builds its queue with the server's ``create_queue``."""
    problems = method(socketio_server_class, "_engineio_server_class", (), coroutine=False)
    if problems:
        return problems
    probe_class = type(
        "Probe",
        (socketio_server_class,),
        {"_engineio_server_class": MeteredSocketIOServer._engineio_server_class},
    )
    server = probe_class(async_mode="aiohttp", logger=SILENT, engineio_logger=SILENT)
    if not isinstance(server.eio, MeteredEngineIOServer):
        return [
            f"{socketio_server_class.__name__} no longer builds its Engine.IO server with "
            "_engineio_server_class()"
        ]
    if not isinstance(socket_class(server.eio, "probe").queue, MeteredQueue):
        problems.append(f"{socket_class.__name__} no longer builds its queue with create_queue()")
    return problems


def packet_size_shape_problems(packet_class: type) -> list[str]:
    """python-engineio's ``Packet`` (``packet_class``) takes the size attribute."""
    pkt = packet_class(engineio.packet.NOOP)
    remember_size(pkt, 1)
    if getattr(pkt, SIZE_ATTR, None) != 1:
        return [f"a {packet_class.__name__} takes no new attribute ({SIZE_ATTR})"]
    return []
