"""Everything in roomkey that touches a library's private parts, fenced in one package.

``install(settings.performance) -> PatchReport`` is the one call (``roomkey.app.setup``
makes it; ``roomkey serve`` runs its guard half, ``require_guards``, before starting any
process): it checks, against the libraries installed, the shape of every private part listed
below (the attribute exists, is a method of the signature expected, holds the type
expected), once per process. The transports then build on the report's settings
(``MeteredEngineIOServer.patch`` for a Socket.IO server). Two kinds of patch:

- A speed patch (``FALLBACK``) has a public path that is correct, only slower or heavier: on a
  mismatch roomkey logs ONE warning line naming the patch and uses that path (its
  ``[performance]`` switch is then off in ``PatchReport.performance``, the settings the app
  runs with). Switched off in the config, a patch is neither checked nor used.
- A guard (``GUARD``) protects against hostile input or unbounded memory and has no safe
  fallback: on a mismatch ``install`` raises ``LibraryMismatch``, one line naming the library,
  its version and the part that changed, and roomkey does not start.

Checked with aiohttp 3.14.5, python-engineio 4.15.1 and python-socketio 5.18.1 (the lower
bounds below are the project's declared minimums); pyproject.toml bounds each below its next
minor version, not yet checked against these shapes. ``asyncio.Queue``'s private parts are
not touched: ``MeteredQueue`` replaces it for every Engine.IO socket, and the ``_queue`` and
``_getters`` read here are its own.

aiohttp (>=3.14.2, <3.15)

- ``peek_body`` (FALLBACK, ``performance.peek_body``; ``aiohttp_body``): ``StreamReader._buffer``
  (a deque of bytes), ``_buffer_offset`` and ``_exception``, read to look at a body that has
  all arrived without taking it out. Fallback: the body is read through the public API.
- ``lean_websockets`` (FALLBACK, ``performance.lean_websockets``; ``aiohttp_takeover``):
  ``RequestHandler.transport`` set to None, ``connection_lost(exc)`` called and
  ``_message_tail`` read, to move an upgraded connection to roomkey's own WebSocket.
  Fallback: aiohttp's ``WebSocketResponse`` serves every WebSocket.
- ``bad_request_answer`` (FALLBACK; ``aiohttp_errors``): ``web_protocol.RequestHandler.
  handle_error(request, status, exc, message)`` replaced on the class (once per process) and
  ``RequestHandler._request_handler`` read, to answer unparseable requests with roomkey's
  error. Fallback: aiohttp's own answer (the log lines still go through ``SafeRecords``).

python-engineio (>=4.13.2, <4.16)

- ``lean_sockets`` (FALLBACK, ``performance.lean_sockets``; ``engineio_direct``,
  ``engineio_socket.LeanSocket``): ``AsyncServer._async`` (``create_route``,
  ``translate_request``, ``websocket``), ``_service_task``, ``start_service_task``,
  ``service_task_handle``, ``_trigger_event``, ``_make_response``, ``_unauthorized``,
  ``ping_interval_grace_period``; ``AsyncSocket._websocket_handler`` and ``schedule_ping``
  overridden, its ``last_ping``, ``connected``, ``upgraded``, ``closing``, ``queue`` read.
  Fallback: python-engineio's handshake and socket.
- ``direct_writes`` (FALLBACK, ``performance.direct_writes``; ``engineio_websocket.
  idle_websocket``): ``AsyncSocket.upgrading``, ``_upgrade_websocket`` (builds the driver with the
  socket's bound ``_websocket_handler``), ``poll`` (its writer waits in ``queue.get()``).
  Fallback: every delivery is queued (on both transports: the switch is one).
- ``packet_sizes`` (FALLBACK; ``socketio_queue.remember_size``): an attribute added to
  ``engineio.packet.Packet`` objects to cache their size. Fallback: measured per recipient.
- ``engineio_input`` (GUARD; ``engineio_socket.CheckedSocket``, ``engineio_websocket``):
  ``AsyncSocket.handle_post_request`` overridden, ``receive`` and ``close`` called; the
  ``AsyncSocket`` that ``AsyncServer._handle_connect`` builds has its ``__class__`` set as it
  is stored in ``sockets``; the aiohttp driver ``async_drivers.aiohttp.WebSocket``
  (``_async["websocket"]``, ``_sock``, ``handler``, ``server``, ``__call__``, ``wait``,
  ``send``, ``close``) subclassed. Guards: what is not Engine.IO ends the socket.

python-socketio (>=5.16.3, <5.19), with python-engineio

- ``metered_engine`` (GUARD; ``socketio_queue``): ``AsyncServer._engineio_server_class()``
  overridden, and python-engineio's public ``create_queue`` used by every socket. Guards: the
  outbound byte bound on every Socket.IO socket (``limits.max_outbound_buffer_bytes``).
- ``socketio_inbound`` (GUARD; ``socketio_inbound``): ``AsyncServer._handle_eio_message``
  overridden; ``_handle_connect``, ``_handle_disconnect``, ``_handle_event``, ``_handle_ack``
  called. Guards: binary packets, reserved event names, malformed packets.

redis-py (>=8.1; Redis Cluster only)

- ``closing_tasks`` (FALLBACK, no switch; ``redis_cluster``): ``ClusterNode._background_tasks``
  read when roomkey's cluster client closes, to wait for connection closes a failover left
  running. Fallback (the attribute absent or of another type): nothing is waited for; every
  node is still disconnected. Checked where it is used, not by ``install``: a client of one
  Redis or Sentinel never reads it.

tests/sockets/test_patches.py pins each shape against the installed libraries and shows both
behaviours on deliberately broken ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property
from typing import Any

import engineio
import socketio
from aiohttp import streams, web_protocol
from engineio import async_server, async_socket
from engineio import packet as engineio_packet
from engineio.async_drivers import aiohttp as engineio_aiohttp

from roomkey._patches import (
    aiohttp_body,
    aiohttp_errors,
    aiohttp_takeover,
    engineio_direct,
    engineio_socket,
    engineio_websocket,
    socketio_inbound,
    socketio_queue,
)
from roomkey._patches.shape import SILENT, LibraryMismatch, library_version
from roomkey.config import PerformanceSettings

__all__ = [
    "INSTALLED",
    "PATCHES",
    "Kind",
    "Libraries",
    "LibraryMismatch",
    "Mismatch",
    "Patch",
    "PatchReport",
    "check",
    "install",
    "require_guards",
]

log = logging.getLogger("roomkey")


# The socket class python-engineio's server module builds its sockets from.
_SOCKET_BUILT: type = getattr(
    getattr(async_server, "async_socket", None), "AsyncSocket", type(None)
)


@dataclass(frozen=True)
class Libraries:
    """The library classes whose private parts roomkey's patches rely on: the installed
    ones by default (``INSTALLED``). A test passes a deliberately broken one to see a check
    fail and its fallback or refusal."""

    stream_reader: type = streams.StreamReader
    request_handler: type = web_protocol.RequestHandler
    engineio_server: type = engineio.AsyncServer
    engineio_socket: type = async_socket.AsyncSocket
    engineio_socket_built: type = _SOCKET_BUILT
    engineio_websocket: type = engineio_aiohttp.WebSocket
    engineio_packet: type = engineio_packet.Packet
    socketio_server: type = socketio.AsyncServer


INSTALLED = Libraries()


class Kind(Enum):
    FALLBACK = "fallback"  # a speed patch: a mismatch warns once, the public path is used
    GUARD = "guard"  # no safe fallback: a mismatch stops the start


@dataclass(frozen=True)
class Patch:
    """One patch: its ``name``, ``kind``, the ``library`` (distribution) whose private parts
    it uses, the ``[performance]`` ``switch`` that turns it off (if any), what it is for,
    what runs instead (a speed patch) or what it guards, and how its shape is checked."""

    name: str
    kind: Kind
    library: str
    switch: str | None
    purpose: str
    check: Callable[[Libraries, _Probes], list[str]]


@dataclass(frozen=True)
class Mismatch:
    """A patch whose shape does not hold: ``library`` with its version, and the problems."""

    patch: str
    library: str
    problems: tuple[str, ...]

    def line(self) -> str:
        return f"{self.library}: {'; '.join(self.problems)}"


@dataclass(frozen=True)
class PatchReport:
    """What ``install`` found. ``performance``: the ``[performance]`` settings the app runs
    with (a speed patch whose shape does not hold is switched off); ``active``: the patches
    in use; ``fallbacks``: the speed patches that were wanted but do not fit the libraries
    installed (each warned about once per process)."""

    performance: PerformanceSettings
    active: tuple[str, ...]
    fallbacks: tuple[Mismatch, ...] = ()


class _Probes:
    """Library objects built at most once per check, only to be looked at (no loop, no
    socket). Built on first use, inside the check that needs them: a library whose objects
    cannot even be built fails that check, not the others."""

    def __init__(self, libraries: Libraries) -> None:
        self._libraries = libraries

    @cached_property
    def engineio_server(self) -> Any:
        return self._libraries.engineio_server(async_mode="aiohttp", logger=SILENT)

    @cached_property
    def engineio_socket(self) -> Any:
        return self._libraries.engineio_socket(self.engineio_server, "probe")


def _lean(libs: Libraries, probes: _Probes) -> list[str]:
    return [
        *engineio_direct.shape_problems(libs.engineio_server, probes.engineio_server),
        *engineio_socket.lean_shape_problems(libs.engineio_socket, probes.engineio_socket),
    ]


def _engineio_input(libs: Libraries, probes: _Probes) -> list[str]:
    return [
        *engineio_socket.checked_shape_problems(
            libs.engineio_server,
            libs.engineio_socket,
            libs.engineio_socket_built,
            probes.engineio_server,
        ),
        *engineio_websocket.shape_problems(libs.engineio_websocket, probes.engineio_server),
    ]


PATCHES: tuple[Patch, ...] = (
    Patch(
        "socketio_inbound",
        Kind.GUARD,
        "python-socketio",
        None,
        "roomkey's inbound packet guard (binary packets, reserved event names, malformed packets)",
        lambda libs, _: socketio_inbound.shape_problems(libs.socketio_server),
    ),
    Patch(
        "metered_engine",
        Kind.GUARD,
        "python-socketio",
        None,
        "roomkey's outbound bound on Socket.IO sockets (limits.max_outbound_buffer_bytes)",
        lambda libs, _: socketio_queue.shape_problems(libs.socketio_server, libs.engineio_socket),
    ),
    Patch(
        "engineio_input",
        Kind.GUARD,
        "python-engineio",
        None,
        "roomkey's Engine.IO input check (what is not Engine.IO ends the socket)",
        _engineio_input,
    ),
    Patch(
        "lean_sockets",
        Kind.FALLBACK,
        "python-engineio",
        "lean_sockets",
        "python-engineio's own handshake and sockets are used",
        _lean,
    ),
    Patch(
        "direct_writes",
        Kind.FALLBACK,
        "python-engineio",
        "direct_writes",
        "every delivery is queued for the socket's writer (on both transports: the switch is one)",
        lambda libs, probes: engineio_websocket.direct_write_shape_problems(
            libs.engineio_socket, probes.engineio_socket
        ),
    ),
    Patch(
        "packet_sizes",
        Kind.FALLBACK,
        "python-engineio",
        None,
        "each packet is measured once per recipient",
        lambda libs, _: socketio_queue.packet_size_shape_problems(libs.engineio_packet),
    ),
    Patch(
        "peek_body",
        Kind.FALLBACK,
        "aiohttp",
        "peek_body",
        "request bodies are read through aiohttp's public API",
        lambda libs, _: aiohttp_body.shape_problems(libs.stream_reader),
    ),
    Patch(
        "lean_websockets",
        Kind.FALLBACK,
        "aiohttp",
        "lean_websockets",
        "aiohttp's WebSocketResponse serves every WebSocket",
        lambda libs, _: aiohttp_takeover.shape_problems(libs.request_handler),
    ),
    Patch(
        "bad_request_answer",
        Kind.FALLBACK,
        "aiohttp",
        None,
        "aiohttp answers requests its parser refuses itself",
        lambda libs, _: aiohttp_errors.shape_problems(libs.request_handler),
    ),
)

# The shapes found, per set of libraries (they cannot change within a process), and the
# fallbacks already warned about: one line per patch per process.
_checked: dict[Libraries, dict[str, Mismatch]] = {}
_warned: set[tuple[Libraries, str]] = set()


def check(libraries: Libraries = INSTALLED) -> dict[str, Mismatch]:
    """Every patch's shape against ``libraries``: the mismatches, by patch name (empty: all
    hold). Computed once per ``libraries``."""
    found = _checked.get(libraries)
    if found is None:
        probes = _Probes(libraries)
        found = {}
        for patch in PATCHES:
            try:
                problems = patch.check(libraries, probes)
            except Exception as exc:  # a shape so far off that looking at it failed
                problems = [f"checking it raised {type(exc).__name__}: {exc}"]
            if problems:
                found[patch.name] = Mismatch(
                    patch.name, library_version(patch.library), tuple(problems)
                )
        _checked[libraries] = found
    return found


def require_guards(libraries: Libraries = INSTALLED) -> None:
    """Raise ``LibraryMismatch`` (one line) if a guard's shape does not hold."""
    found = check(libraries)
    for patch in PATCHES:
        mismatch = found.get(patch.name)
        if patch.kind is Kind.GUARD and mismatch is not None:
            raise LibraryMismatch(
                f"{mismatch.line()}: {patch.purpose} is built on it and has no safe "
                f"fallback, so roomkey does not start; roomkey needs updating for this "
                f"version (see roomkey._patches)"
            )


def install(performance: PerformanceSettings, *, libraries: Libraries = INSTALLED) -> PatchReport:
    """Check every patch against ``libraries`` (the installed ones), as the module's
    docstring says: ``LibraryMismatch`` for a guard that does not fit, one warning line per
    process for each speed patch that does not (and is not switched off), which is then off
    in the report's ``performance``."""
    require_guards(libraries)
    found = check(libraries)
    active: list[str] = []
    fallbacks: list[Mismatch] = []
    switched_off: dict[str, bool] = {}
    for patch in PATCHES:
        if patch.switch is not None and not getattr(performance, patch.switch):
            continue
        mismatch = found.get(patch.name)
        if mismatch is None:
            active.append(patch.name)
            continue
        fallbacks.append(mismatch)
        if patch.switch is not None:
            switched_off[patch.switch] = False
        if (libraries, patch.name) not in _warned:
            _warned.add((libraries, patch.name))
            off = f" (performance.{patch.switch} is off)" if patch.switch else ""
            log.warning(
                "%s: roomkey's %s patch does not fit it%s, so %s",
                mismatch.line(),
                patch.name,
                off,
                patch.purpose,
            )
    return PatchReport(replace(performance, **switched_off), tuple(active), tuple(fallbacks))
