"""The lean Engine.IO socket (_patches/engineio_socket.py) and the light packet queue
(_patches/socketio_queue.py): the same heartbeat and packets on the wire, fewer tasks and
less memory per connection."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from engineio import packet

from roomkey._patches.engineio_socket import LeanSocket
from roomkey._patches.socketio_queue import MeteredQueue
from roomkey.app import SOCKETIO
from tests.support.apps import APP_KEY, make_settings
from tests.support.raw_socketio import RawSocketIO
from tests.support.servers import StartServer
from tests.support.waiting import wait_for_condition


async def _connected(port: int) -> RawSocketIO:
    raw = await RawSocketIO.open(port)
    await raw.recv_until("0{")
    raw.send("40" + json.dumps({"key": APP_KEY}))
    await raw.recv_until('42["connection_established"')
    return raw


async def test_a_client_that_answers_pings_gets_them_every_interval_and_stays(
    start_server: StartServer,
) -> None:
    server = await start_server(
        make_settings(server={"ping_interval_seconds": 1.0, "ping_timeout_seconds": 0.5})
    )
    raw = await _connected(server.port)
    try:
        for _ in range(2):  # two full ping cycles: the timer is re-armed by each pong
            assert await raw.recv() == "2"
            raw.send("3")
        raw.send('420["subscribe",{"channel":"news"}]')
        assert await raw.recv_until("430") == '430[{"channel":"news"}]'
        assert len(server.runtime.hub.connections) == 1
    finally:
        raw.close()


async def test_sockets_are_lean_and_use_few_tasks(start_server: StartServer) -> None:
    server = await start_server()
    eio = server.app[SOCKETIO].sio.eio
    # The first connections start the server's own tasks (Engine.IO's service task).
    clients = [await _connected(server.port) for _ in range(5)]
    before = len(asyncio.all_tasks())
    clients += [await _connected(server.port) for _ in range(20)]
    try:
        assert all(isinstance(s, LeanSocket) for s in eio.sockets.values())
        assert len(eio.sockets) == 25
        # aiohttp's two (connection and handler), and no Engine.IO writer while nothing is
        # queued; python-engineio's own socket kept six per connection (writer, its queue
        # wait, a reader task per message, a ping task sleeping through every interval).
        await wait_for_condition(
            lambda: all(s._writer is None for s in eio.sockets.values()), "writers idle"
        )
        per_connection = (len(asyncio.all_tasks()) - before) / 20
        assert per_connection <= 2, per_connection
        socks = list(eio.sockets.values())
        # Idle queues hold no deque and no list of getters.
        assert all(s.queue._queue == () and s.queue._getters == () for s in socks)
    finally:
        for c in clients:
            c.close()
    await wait_for_condition(lambda: not server.runtime.hub.connections, "all disconnected")
    # The ping timers went with their sockets.
    assert all(s._ping_timer is None and s.closed for s in socks)


async def test_queue_is_fifo_and_counts_bytes() -> None:
    q = MeteredQueue()
    first = packet.Packet(packet.MESSAGE, data="héllo")  # 6 bytes of UTF-8, plus the type
    q.put_nowait(first)
    await q.put(None)
    assert q.qsize() == 2 and q.bytes == 7
    assert q.get_nowait() is first and await q.get() is None
    assert q.empty() and q.bytes == 0


async def test_queue_get_waits_and_a_cancelled_get_loses_nothing() -> None:
    q = MeteredQueue()
    waiting = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    assert q._getters  # a getter waiting with nothing in hand
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert not q._getters
    first = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.put_nowait("x")  # wakes the getter ...
    first.cancel()  # ... which is cancelled before it ran: the item stays
    await asyncio.gather(first, return_exceptions=True)
    assert first.cancelled()
    assert q.get_nowait() == "x"


async def test_queue_join_waits_for_every_task_done() -> None:
    q = MeteredQueue()
    await q.join()  # nothing unfinished: returns at once
    q.put_nowait("a")
    joined = asyncio.ensure_future(q.join())
    await asyncio.sleep(0)
    assert not joined.done()
    q.get_nowait()
    q.task_done()
    await asyncio.wait_for(joined, 1)
    assert q.drop_all() == 0


async def test_lean_sockets_off_keeps_python_engineios_socket(start_server: StartServer) -> None:
    from dataclasses import replace

    from roomkey._patches.engineio_socket import CheckedSocket
    from roomkey.config import PerformanceSettings

    settings = replace(make_settings(), performance=PerformanceSettings(lean_sockets=False))
    server = await start_server(settings)
    raw = await _connected(server.port)
    try:
        raw.send('420["subscribe",{"channel":"news"}]')
        assert await raw.recv_until("430") == '430[{"channel":"news"}]'
        socks = list(server.app[SOCKETIO].sio.eio.sockets.values())
        # python-engineio's socket, with only its long-polling POST checked.
        assert [type(s) for s in socks] == [CheckedSocket]
    finally:
        raw.close()


def test_lean_sockets_is_read_from_the_performance_table(tmp_path: Path) -> None:
    from roomkey.config import load_settings

    path = tmp_path / "roomkey.toml"
    path.write_text(
        '[performance]\nlean_sockets = false\n[[apps]]\nid = "1"\nkey = "k"\n'
        'secret = "lean-secret-0123456789"\n'
    )
    assert load_settings(path).performance.lean_sockets is False


async def test_a_direct_websocket_is_served_by_roomkeys_handshake(
    start_server: StartServer,
) -> None:
    """The OPEN packet is python-engineio's (same fields), the session keeps a small environ,
    and the writer task comes and goes with what is queued: pings still flow and the socket
    answers a subscribe after idling."""
    server = await start_server(
        make_settings(server={"ping_interval_seconds": 1.0, "ping_timeout_seconds": 0.5})
    )
    sio = server.app[SOCKETIO].sio
    raw = await RawSocketIO.open(server.port)
    try:
        opened = json.loads((await raw.recv_until("0{"))[1:])
        assert opened["upgrades"] == []
        assert opened["pingInterval"] == 1000 and opened["pingTimeout"] == 500
        assert opened["maxPayload"] == sio.eio.max_http_buffer_size
        sock = sio.eio.sockets[opened["sid"]]
        assert isinstance(sock, LeanSocket)
        environ = sio.environ[opened["sid"]]
        assert environ["aiohttp.request"].path == "/socket.io/"
        assert environ["QUERY_STRING"] == "EIO=4&transport=websocket"
        assert len(environ) <= 8, sorted(environ)  # not the WSGI translation of every header
        raw.send("40" + json.dumps({"key": APP_KEY}))
        await raw.recv_until('42["connection_established"')
        await wait_for_condition(
            lambda: sock._writer is None, "writer gone once the queue is empty"
        )
        assert await raw.recv() == "2"  # the ping timer queued a PING: a writer sent it
        raw.send("3")
        raw.send('420["subscribe",{"channel":"news"}]')
        assert await raw.recv_until("430") == '430[{"channel":"news"}]'
    finally:
        raw.close()
    await wait_for_condition(lambda: not sio.eio.sockets, "the session ends with its socket")
    assert sock.closed and sock._writer is None


async def test_long_polling_still_goes_through_python_engineio(start_server: StartServer) -> None:
    import aiohttp

    server = await start_server()
    sio = server.app[SOCKETIO].sio
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{server.url}/socket.io/?EIO=4&transport=polling") as resp,
    ):
        assert resp.status == 200
        body = await resp.text()
    opened = json.loads(body[1:])
    assert opened["upgrades"] == ["websocket"]
    # python-engineio's own environ: every header translated.
    assert "HTTP_HOST" in sio.environ[opened["sid"]] and "wsgi.input" in sio.environ[opened["sid"]]
