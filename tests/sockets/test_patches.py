"""The fence around the library patches (``roomkey._patches``): every shape it relies on
holds for the libraries installed; a speed patch whose shape is deliberately broken is
reported with one warning line and switched off, and a real client still works on the public
path; a guard whose shape is broken stops the start with one line naming the library."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest
import socketio
from aiohttp import web_protocol
from aiohttp.streams import StreamReader
from engineio import packet
from engineio.async_drivers import aiohttp as engineio_aiohttp
from engineio.async_socket import AsyncSocket

from roomkey import _patches
from roomkey._patches import INSTALLED, PATCHES, Kind, Libraries, LibraryMismatch
from roomkey._patches.aiohttp_errors import MARK, replace_handle_error
from roomkey._patches.engineio_socket import CheckedSocket, LeanSocket
from roomkey._patches.shape import library_version
from roomkey._patches.socketio_queue import SIZE_ATTR, packet_size
from roomkey.app import SOCKETIO
from roomkey.config import PerformanceSettings
from roomkey.http.bad_requests import answer
from roomkey.internal_sizes import internal_sizes
from tests.support.apps import APP_ID, make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.paths import REPO_ROOT
from tests.support.rest import signed_post
from tests.support.servers import StartServer
from tests.support.socketio_client import ConnectClient

ROOT = REPO_ROOT


# -- the shapes, pinned against the libraries installed -------------------------------------


@pytest.mark.parametrize("name", [p.name for p in PATCHES])
def test_each_shape_holds_for_the_installed_libraries(name: str) -> None:
    mismatch = _patches.check().get(name)
    assert mismatch is None, (
        f"{mismatch.line() if mismatch else ''}: the {name} patch no longer fits; see "
        "roomkey._patches (a guard stops roomkey, a speed patch falls back)"
    )


def test_install_keeps_every_patch_and_every_switch(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    performance = PerformanceSettings()
    report = _patches.install(performance)
    assert report.performance == performance
    assert report.active == tuple(p.name for p in PATCHES)
    assert report.fallbacks == ()
    assert caplog.records == []


def test_each_patch_is_fenced_and_named_in_the_docstring() -> None:
    doc = _patches.__doc__ or ""
    for patch in PATCHES:
        assert f"``{patch.name}`` ({patch.kind.name}" in doc, patch.name
    assert {p.kind for p in PATCHES} == {Kind.GUARD, Kind.FALLBACK}


# -- speed patches: a broken shape falls back, with one warning line ------------------------


class SocketWithoutLeanHandler(AsyncSocket):  # type: ignore[misc]
    """python-engineio's socket as a release that renamed ``_websocket_handler`` would be."""

    _websocket_handler = None


class SocketWithoutPoll(AsyncSocket):  # type: ignore[misc]
    poll = None


class ReaderHoldingAList(StreamReader):
    """aiohttp's reader as a release that holds chunks in a list would be."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._buffer = []  # type: ignore[assignment]


class HandlerWithoutMessage(web_protocol.RequestHandler):
    def handle_error(self, request: Any, status: int = 500, exc: Any = None) -> Any:  # type: ignore[override]
        raise AssertionError("never called here")


class HandlerWithoutConnectionLost(web_protocol.RequestHandler):
    """aiohttp's request handler as a release that renamed ``connection_lost`` would be."""

    connection_lost = None  # type: ignore[assignment]


class PacketRefusingAttributes(packet.Packet):  # type: ignore[misc]
    def __setattr__(self, name: str, value: Any) -> None:
        if name == SIZE_ATTR:
            raise AttributeError(name)
        super().__setattr__(name, value)


BROKEN: dict[str, tuple[Libraries, str, str]] = {
    # patch: (libraries with its shape broken, the library named, the part named)
    "lean_sockets": (
        replace(INSTALLED, engineio_socket=SocketWithoutLeanHandler),
        "python-engineio",
        "_websocket_handler",
    ),
    "direct_writes": (
        replace(INSTALLED, engineio_socket=SocketWithoutPoll),
        "python-engineio",
        "poll",
    ),
    "peek_body": (replace(INSTALLED, stream_reader=ReaderHoldingAList), "aiohttp", "_buffer"),
    "bad_request_answer": (
        replace(INSTALLED, request_handler=HandlerWithoutMessage),
        "aiohttp",
        "handle_error",
    ),
    "lean_websockets": (
        replace(INSTALLED, request_handler=HandlerWithoutConnectionLost),
        "aiohttp",
        "connection_lost",
    ),
    "packet_sizes": (
        replace(INSTALLED, engineio_packet=PacketRefusingAttributes),
        "python-engineio",
        SIZE_ATTR,
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
async def test_a_speed_patch_that_does_not_fit_falls_back_with_one_warning(
    name: str,
    start_server: StartServer,
    connect: ConnectClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    libraries, library, part = BROKEN[name]
    caplog.set_level(logging.WARNING)
    report = _patches.install(PerformanceSettings(), libraries=libraries)
    again = _patches.install(PerformanceSettings(), libraries=libraries)
    assert again == report
    assert [m.patch for m in report.fallbacks] == [name]
    assert name not in report.active
    # One line, once per process, naming the library with its version and the part.
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(library_version(library) + ": ")
    assert part in warnings[0] and name in warnings[0] and "\n" not in warnings[0]
    patch = next(p for p in PATCHES if p.name == name)
    if patch.switch is not None:
        assert getattr(report.performance, patch.switch) is False
        assert f"performance.{patch.switch} is off" in warnings[0]
    # Everything else keeps its switch.
    others = {p.switch for p in PATCHES if p.switch is not None and p.switch != patch.switch}
    assert all(getattr(report.performance, s) is True for s in others)

    # A real server on the settings the report gives: a real client connects, subscribes
    # through the authorize endpoint and receives what is published.
    server = await start_server(replace(make_settings(), performance=report.performance))
    token = make_token("7")
    client = await connect(server, token=token)
    status, body, _ = await post_auth(
        server, {"socket_id": client.socket_id, "channel_name": "private-user-7"}, token=token
    )
    assert status == 200, body
    assert await client.subscribe("private-user-7", auth=body["auth"]) == {
        "channel": "private-user-7"
    }
    published = await signed_post(
        server,
        f"/apps/{APP_ID}/events",
        {"name": "e", "channel": "private-user-7", "data": '{"n":1}'},
    )
    assert published.status == 200, published
    event = await client.next("event")
    assert (event["channel"], event["event"], event["data"]) == ("private-user-7", "e", '{"n":1}')
    if name == "lean_websockets":
        # aiohttp's WebSocket serves: the connection stays aiohttp's.
        assert internal_sizes(server.app)["socketio.lean_websockets"] == 0
        assert server.runner.server is not None and len(server.runner.server.connections) == 1
    if name == "lean_sockets":
        # python-engineio's own handshake and socket (with only its input checked).
        socks = list(server.app[SOCKETIO].sio.eio.sockets.values())
        assert [type(s) for s in socks] == [CheckedSocket]


def test_the_public_paths_of_the_switchless_patches() -> None:
    # A packet that takes no new attribute is measured each time instead of cached.
    pkt = PacketRefusingAttributes(packet.MESSAGE, data="abc")
    assert packet_size(pkt) == packet_size(pkt) == 4
    assert not hasattr(pkt, SIZE_ATTR)
    # A request handler of another shape is left alone: aiohttp answers as it does.
    original = HandlerWithoutMessage.handle_error
    assert replace_handle_error(answer, HandlerWithoutMessage) is False
    assert HandlerWithoutMessage.handle_error is original
    assert not getattr(HandlerWithoutMessage.handle_error, MARK, False)


async def test_a_switched_off_patch_is_neither_checked_nor_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    libraries = replace(INSTALLED, engineio_socket=SocketWithoutLeanHandler)
    performance = PerformanceSettings(lean_sockets=False)
    report = _patches.install(performance, libraries=libraries)
    assert report.performance == performance
    assert report.fallbacks == () and "lean_sockets" not in report.active
    assert caplog.records == []


async def test_with_the_shapes_holding_sockets_are_lean(
    start_server: StartServer, connect: ConnectClient
) -> None:
    server = await start_server()
    await connect(server)
    socks = list(server.app[SOCKETIO].sio.eio.sockets.values())
    assert [type(s) for s in socks] == [LeanSocket]


# -- guards: a broken shape stops the start, with one line ----------------------------------


class ServerWithoutAck(socketio.AsyncServer):  # type: ignore[misc]
    _handle_ack = None


class ServerBuildingItsOwnEngine(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self, mode: str) -> Any:
        raise AssertionError("never called here")


class DriverWithoutWait(engineio_aiohttp.WebSocket):  # type: ignore[misc]
    wait = None


GUARDS_BROKEN: dict[str, tuple[Libraries, str, str]] = {
    "socketio_inbound": (
        replace(INSTALLED, socketio_server=ServerWithoutAck),
        "python-socketio",
        "_handle_ack",
    ),
    "metered_engine": (
        replace(INSTALLED, socketio_server=ServerBuildingItsOwnEngine),
        "python-socketio",
        "_engineio_server_class",
    ),
    "engineio_input": (
        replace(INSTALLED, engineio_websocket=DriverWithoutWait),
        "python-engineio",
        "_async['websocket']",
    ),
}


@pytest.mark.parametrize("name", sorted(GUARDS_BROKEN))
def test_a_guard_that_does_not_fit_stops_the_start(name: str) -> None:
    libraries, library, part = GUARDS_BROKEN[name]
    assert name in _patches.check(libraries)
    with pytest.raises(LibraryMismatch) as raised:
        _patches.install(PerformanceSettings(), libraries=libraries)
    message = str(raised.value)
    assert message.startswith(library_version(library) + ": ")
    assert part in message and "does not start" in message and "\n" not in message


def test_roomkey_serve_refuses_to_start_on_a_library_that_breaks_a_guard() -> None:
    # A real python-socketio, deliberately broken in a process of its own (the method the
    # inbound guard calls is gone), under the real command line.
    script = (
        "import socketio, sys\n"
        "del socketio.AsyncServer._handle_ack\n"
        "from roomkey.cli import main\n"
        "sys.exit(main(['serve', '--port', '0']))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT / "server"), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"roomkey: {library_version('python-socketio')}: ")
    assert "AsyncServer._handle_ack is missing" in lines[0]
    assert "listening" not in out.stdout + out.stderr
