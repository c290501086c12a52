"""Hostile input at the wire level, on a real server over loopback: Socket.IO event names that
are the server's own, binary packets and frames, JSON nested 10,000 deep. Each is refused with
an error that has a code; none reaches roomkey's own handlers, keeps anything in memory or
logs a traceback; well-behaved clients carry on."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import socketio

from roomkey.app import SOCKETIO
from roomkey.config import Limits, PerformanceSettings
from roomkey.core.signing import sign_channel
from roomkey.logs import RepeatFilter, TextFormatter
from tests.support.apps import APP_KEY, APP_SECRET, make_settings, make_token
from tests.support.metrics import sample, scrape
from tests.support.pusher import RawPusherFactory
from tests.support.raw_socketio import raw_connected
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient
from tests.support.waiting import wait_for_condition

DEEP = 10_000
MAX_JSON_DEPTH = 64  # the documented bound (docs/operations.md)


def deep(levels: int) -> str:
    """JSON arrays nested ``levels`` deep."""
    return "[" * levels + "]" * levels


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing logged at ERROR or above, and nothing with a traceback."""
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


async def refused_code(server: Server) -> Any:
    """The ``connect_error`` code a new Socket.IO client gets (None if it connects)."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", lambda data=None: errors.append(data))
    try:
        await client.connect(
            server.url, auth={"key": APP_KEY}, transports=["websocket"], wait_timeout=5
        )
    except socketio.exceptions.ConnectionError:
        return errors[0]["code"] if errors else "no connect_error data"
    finally:
        if client.connected:
            await client.disconnect()
        http = getattr(client.eio, "http", None)
        if http is not None and not http.closed:
            await http.close()
    return None


async def still_serves(server: Server, connect: ConnectClient) -> None:
    """A new, well-behaved client connects, subscribes and receives a publish."""
    client = await connect(server)
    assert await client.subscribe("public-after") == {"channel": "public-after"}
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["public-after"], "still", "serving")
    assert (await client.next("event"))["data"] == "serving"


# -- 1. reserved event names ----------------------------------------------------------------


async def test_a_client_emitting_disconnect_is_answered_as_unknown_and_still_counts(
    start_server: StartServer, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(
        make_settings(limits=Limits(max_connections=2), authorized_connections_timeout=2.0)
    )
    first = await connect(server)
    await connect(server)
    before = await scrape(server)
    for _ in range(3):
        answer = await first.call("disconnect")
        assert answer["error"]["code"] == 4300
        assert "unknown event" in answer["error"]["message"]
    # Still connected, still in the hub, still counted against the quota and in the metrics.
    assert first.client.connected
    assert first.socket_id in server.runtime.hub.connections
    assert await refused_code(server) == 4004
    after = await scrape(server)
    labels = {"app": "101", "transport": "socketio"}
    assert sample(after, "roomkey_connections", **labels) == 2
    assert sample(after, "roomkey_connections_opened_total", **labels) == sample(
        before, "roomkey_connections_opened_total", **labels
    )
    assert sample(
        after, "roomkey_messages_received_total", transport="socketio", type="unknown event"
    ) == 3 + (
        sample(
            before, "roomkey_messages_received_total", transport="socketio", type="unknown event"
        )
        or 0
    )
    # ... and still under authorized_connections_timeout.
    error = await first.next("error", timeout=15)
    assert error["code"] == 4009
    await first.wait_disconnected(timeout=10)
    no_traceback(caplog)


@pytest.mark.parametrize("name", ["connect", "connect_error", "disconnect", "*"])
async def test_internal_event_names_get_the_unknown_event_answer(
    start_server: StartServer,
    connect: ConnectClient,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    server = await start_server()
    client = await connect(server, token=make_token("42"))
    for payload in (None, {"key": APP_KEY}, "text", [1, 2]):
        answer = await client.call(name, payload)
        assert answer["error"]["code"] == 4300, answer
        assert "unknown event" in answer["error"]["message"]
    # Without an acknowledgement: nothing comes back, nothing changes.
    await client.client.emit(name, {"key": APP_KEY})
    assert await client.subscribe("private-user-42") == {"channel": "private-user-42"}
    assert list(server.runtime.hub.connections) == [client.socket_id]
    no_traceback(caplog)


# -- 2. binary --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transports", [["websocket"], ["polling"], ["polling", "websocket"]], ids=str
)
async def test_a_binary_event_is_refused_and_the_socket_closed(
    start_server: StartServer,
    connect: ConnectClient,
    caplog: pytest.LogCaptureFixture,
    transports: list[str],
) -> None:
    server = await start_server()
    client = await connect(server, transports=transports)
    if transports == ["polling", "websocket"]:
        await wait_for_condition(lambda: client.client.transport() == "websocket", "the upgrade")
    await client.client.emit("subscribe", {"channel": "news", "blob": b"\x00" * 1000})
    error = await client.next("error", timeout=10)
    assert error["code"] == 4300
    assert "binary" in error["message"]
    await client.wait_disconnected(timeout=10)
    sio = server.app[SOCKETIO].sio
    await wait_for_condition(lambda: not server.runtime.hub.connections, "the hub to forget it")
    await wait_for_condition(lambda: not sio.eio.sockets, "the Engine.IO socket to close")
    assert sio._binary_packet == {}
    await still_serves(server, connect)
    no_traceback(caplog)


async def test_binary_attachments_are_not_buffered(
    start_server: StartServer, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The review's attack: a binary event announcing one attachment, then 100 KB binary
    frames. The first packet is refused, the socket closed; nothing is kept."""
    server = await start_server()
    raw, _ = await raw_connected(server)
    raw.send('451-["subscribe",{"_placeholder":true,"num":0}]')
    for _ in range(40):
        raw.send_binary(b"\x01" * 100_000)
    texts = await raw.texts_until_closed()
    errors = [json.loads(t[2:])[1] for t in texts if t.startswith('42["error"')]
    assert errors and errors[0]["code"] == 4300, texts
    sio = server.app[SOCKETIO].sio
    assert sio._binary_packet == {}
    await wait_for_condition(lambda: not sio.eio.sockets, "the Engine.IO socket to close")
    assert not server.runtime.hub.connections
    raw.close()
    await still_serves(server, connect)
    no_traceback(caplog)


async def test_a_binary_websocket_frame_is_refused_and_the_socket_closed(
    start_server: StartServer, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    raw, _ = await raw_connected(server)
    raw.send_binary(b"\x04binary")
    texts = await raw.texts_until_closed()
    assert any(t.startswith('42["error",{"code":4300') for t in texts), texts
    sio = server.app[SOCKETIO].sio
    await wait_for_condition(lambda: not sio.eio.sockets, "the Engine.IO socket to close")
    raw.close()
    text = await scrape(server)
    assert sample(text, "roomkey_refusals_total", what="socketio packet", reason="binary") == 1
    await still_serves(server, connect)
    no_traceback(caplog)


async def test_a_binary_pusher_frame_gets_an_error_and_a_close(
    start_server: StartServer, raw_pusher: RawPusherFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    client = await raw_pusher.established(server)
    bystander = await raw_pusher.established(server)
    await client.ws.send_bytes(b"\x00\x01" * 1000)
    error = await client.next()
    assert error["event"] == "pusher:error"
    assert error["data"]["code"] == 4300 and "binary" in error["data"]["message"]
    assert await client.closed_with() == 4300
    await wait_for_condition(
        lambda: client.socket_id not in server.runtime.hub.connections, "the hub to forget it"
    )
    await bystander.send("pusher:ping", {})
    assert (await bystander.next())["event"] == "pusher:pong"
    no_traceback(caplog)


# -- 4. JSON that nests too deep, and other frames that do not parse ----------------------------


async def test_deep_json_on_the_pusher_transport_is_an_error_and_the_socket_stays(
    start_server: StartServer, raw_pusher: RawPusherFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    client = await raw_pusher.established(server)
    frames = [
        '{"event":"pusher:subscribe","data":' + deep(DEEP) + "}",
        '{"event":"pusher:subscribe","data":' + json.dumps(deep(DEEP)) + "}",
        '{"event":"client-x","channel":"private-a","data":' + deep(MAX_JSON_DEPTH) + "}",
        deep(DEEP),
        '{"event":',
        '{"event":"pusher:subscribe","data":"{\\"channel\\":"}',
        '{"event":42}',
        '{"event":"pusher:subscribe","data":{"channel":["x"]}}',
    ]
    for text in frames:
        await client.ws.send_str(text)
        answer = await client.next()
        if answer["event"] == "pusher:subscription_error":
            answer = await client.next()
        assert answer["event"] == "pusher:error", (text[:60], answer)
        assert answer["data"]["code"] == 4300
    await client.send("pusher:ping", {})
    assert (await client.next())["event"] == "pusher:pong"
    ok = await client.subscribe("news")
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    no_traceback(caplog)


async def test_nesting_up_to_the_bound_is_delivered(
    start_server: StartServer, raw_pusher: RawPusherFactory
) -> None:
    """Client event data nested as deep as the bound allows (the frame and the trigger
    wrap it in two more levels) reaches the other subscriber intact."""
    server = await start_server()
    sender = await raw_pusher.established(server)
    receiver = await raw_pusher.established(server)
    for client in (sender, receiver):
        auth = sign_channel(APP_KEY, APP_SECRET, client.socket_id, "private-deep")
        ok = await client.subscribe("private-deep", auth=auth)
        assert ok["event"] == "pusher_internal:subscription_succeeded"
    data = json.loads(deep(MAX_JSON_DEPTH - 1))
    await sender.send("client-deep", data, channel="private-deep")
    got = await receiver.next_event("client-deep")
    assert json.loads(got["data"]) == data


async def test_deep_json_on_socketio_is_answered_and_the_socket_stays(
    start_server: StartServer, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    raw, _ = await raw_connected(server)
    # With an acknowledgement id: the answer comes through it.
    raw.send('427["subscribe",' + deep(DEEP) + "]")
    answer = json.loads((await raw.recv_until("437"))[3:])
    assert answer[0]["error"]["code"] == 4300
    assert f"deeper than {MAX_JSON_DEPTH}" in answer[0]["error"]["message"]
    # Without one (or not even a Socket.IO packet): an error event.
    for text in (
        "42" + deep(DEEP),
        "4" + deep(DEEP),
        "42{}",
        '42[{"a":1}]',
        "42x",
        "49",
        "4",
        "44",
    ):
        raw.send(text)
        error = json.loads((await raw.recv_until('42["error"'))[2:])[1]
        assert error["code"] == 4300, text[:20]
    raw.send('428["subscribe",{"channel":"news"}]')
    assert json.loads((await raw.recv_until("438"))[3:]) == [{"channel": "news"}]
    raw.close()
    await still_serves(server, connect)
    no_traceback(caplog)


async def test_deep_json_over_long_polling_is_answered_and_the_session_stays(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    url = f"{server.url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        opened = json.loads((await (await http.get(url)).text())[1:])
        session = f"{url}&sid={opened['sid']}"

        async def post(text: str) -> None:
            async with http.post(session, data=text.encode()) as resp:
                assert resp.status == 200, await resp.text()

        async def poll() -> list[str]:
            async with http.get(session) as resp:
                assert resp.status == 200
                return (await resp.text()).split("\x1e")

        await post("40" + json.dumps({"key": APP_KEY}))
        assert any(p.startswith('42["connection_established"') for p in await poll())
        await post('421["subscribe",' + deep(DEEP) + "]")
        answers = await poll()
        assert answers[0].startswith('431[{"error":{"code":4300'), answers
        await post('422["subscribe",{"channel":"news"}]')
        assert await poll() == ['432[{"channel":"news"}]']
    no_traceback(caplog)


# -- messages that are not Engine.IO at all -----------------------------------------------------


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "python-engineio"])
async def test_a_websocket_message_that_is_not_engineio_closes_the_socket(
    start_server: StartServer,
    connect: ConnectClient,
    caplog: pytest.LogCaptureFixture,
    lean: bool,
) -> None:
    settings = replace(make_settings(), performance=PerformanceSettings(lean_sockets=lean))
    server = await start_server(settings)
    sio = server.app[SOCKETIO].sio
    for garbage in ("x", "", "\u0664" + "hello", "bAAA", "7"):
        raw, _ = await raw_connected(server)
        raw.send(garbage)
        await raw.texts_until_closed()
        raw.close()
        await wait_for_condition(lambda: not sio.eio.sockets, "the Engine.IO socket to close")
        await wait_for_condition(lambda: not server.runtime.hub.connections, "the hub to forget it")
    text = await scrape(server)
    assert sample(text, "roomkey_refusals_total", what="socketio packet", reason="bad_request") == 5
    await still_serves(server, connect)
    no_traceback(caplog)


async def test_an_upgraded_socket_that_sends_garbage_is_closed(
    start_server: StartServer, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Long-polling first, then the WebSocket upgrade (python-engineio's own handler reads
    the upgraded socket), then something that is not Engine.IO."""
    server = await start_server()
    url = f"{server.url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        opened = json.loads((await (await http.get(url)).text())[1:])
        sid = opened["sid"]
        async with http.post(
            f"{url}&sid={sid}", data=b"40" + json.dumps({"key": APP_KEY}).encode()
        ):
            pass
        async with http.get(f"{url}&sid={sid}") as resp:
            assert "connection_established" in await resp.text()
        ws_url = (
            f"{server.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        )
        async with http.ws_connect(ws_url) as ws:
            await ws.send_str("2probe")
            assert (await ws.receive(timeout=5)).data == "3probe"
            await ws.send_str("5")
            await ws.send_str('420["subscribe",{"channel":"news"}]')
            for _ in range(5):
                if (await ws.receive(timeout=5)).data == '430[{"channel":"news"}]':
                    break
            else:
                raise AssertionError("no answer on the upgraded socket")
            await ws.send_str("not engine.io")
            for _ in range(10):
                msg = await ws.receive(timeout=5)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            else:
                raise AssertionError("the socket stayed open")
    sio = server.app[SOCKETIO].sio
    await wait_for_condition(lambda: not sio.eio.sockets, "the Engine.IO socket to close")
    await wait_for_condition(lambda: not server.runtime.hub.connections, "the hub to forget it")
    await still_serves(server, connect)
    no_traceback(caplog)


async def test_a_long_polling_body_that_is_not_engineio_ends_the_session(
    start_server: StartServer, connect: ConnectClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    url = f"{server.url}/socket.io/?EIO=4&transport=polling"
    sio = server.app[SOCKETIO].sio
    async with aiohttp.ClientSession() as http:
        for body in (b"x", b"\xff\xfe", b"4" + b"\x1e4" * 20, b"d=", b"bAAA", b"8", b"3\x1e9"):
            opened = json.loads((await (await http.get(url)).text())[1:])
            session = f"{url}&sid={opened['sid']}"
            async with http.post(session, data=b"40" + json.dumps({"key": APP_KEY}).encode()):
                pass
            async with http.get(session) as resp:
                assert "connection_established" in await resp.text()
            async with http.post(session, data=body) as resp:
                assert resp.status == 400, body
            await wait_for_condition(lambda: not sio.eio.sockets, "the Engine.IO socket to close")
            await wait_for_condition(
                lambda: not server.runtime.hub.connections, "the hub to forget it"
            )
    await still_serves(server, connect)
    no_traceback(caplog)


async def test_a_flood_of_malformed_packets_is_answered_and_logged_once(
    start_server: StartServer, connect: ConnectClient
) -> None:
    """The review's log flood: bare ``42`` packets. Each is answered; roomkey's log (its
    formatter and flood control) gets one line for all of them, and no traceback."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        server = await start_server()
        raw, _ = await raw_connected(server)
        count = 500
        for _ in range(count):
            raw.send("42")
        raw.send('421["subscribe",{"channel":"news"}]')
        answers = 0
        while True:
            text = await raw.recv()
            if text.startswith("431"):
                break
            answers += text.startswith('42["error",{"code":4300')
        assert answers == count
        raw.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    log = stream.getvalue()
    assert "Traceback" not in log
    assert log.count("refused socketio packet") == 1, log
    assert len(log.encode()) < 5000, log
    await still_serves(server, connect)
