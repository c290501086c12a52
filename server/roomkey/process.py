"""Running the server: one process, or ``server.workers`` processes on one port.

With several workers the parent starts them (``spawn``: nothing of the parent's state is
inherited), each binds the same address with ``SO_REUSEPORT`` so that the kernel spreads
connections between them, and they share channels and presence through Redis. The parent
forwards SIGTERM/SIGINT to the workers and waits for their graceful stop; a worker that dies
is replaced, unless it dies right after starting (a configuration or bind error), which stops
everything. A worker whose parent dies without stopping it (SIGKILL, a crash) is sent SIGTERM
by the kernel (Linux ``PR_SET_PDEATHSIG``) and stops gracefully as on any SIGTERM, so no
orphaned worker keeps the port; elsewhere it keeps running until signalled.

Each process also runs the metrics listener (``[metrics]``): worker ``i`` (from 0) on
``metrics.port + i``, since every worker has its own registry; the parent serves nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from aiohttp import web

from roomkey.config import Settings
from roomkey.logs import configure_logging, flush_repeated, log_loop_exception
from roomkey.startup import EXIT_BIND, EXIT_FAILURE, StartupError, start_line

log = logging.getLogger("roomkey")

EARLY_EXIT_SECONDS = 3.0  # a worker dying sooner than this after its start is not restarted


def run_server(
    settings: Settings,
    *,
    reuse_port: bool = False,
    worker: int = 0,
    web_root: str = "",
    on_listening: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully (clients told 4200, presence left at
    once, in-flight requests given ``server.shutdown_timeout_seconds``). ``worker``: this
    process's index among ``server.workers`` (its metrics port is ``metrics.port + worker``);
    ``web_root``: what ``startup.check_web_root`` found, for the start line;
    ``on_listening``: called once the client port is bound.

    Logs one line once the client port is bound (``startup.start_line``) and one when
    stopped (the signal, the connections drained). Raises ``StartupError`` (``EXIT_BIND``)
    when a listener cannot bind its address."""
    # Imported here: the CLI's other commands (check-config, sign) and the parent of the
    # workers never build an application, so they do not load the transports.
    from roomkey.app import create_app

    metrics = settings.metrics
    if metrics.port:
        settings = replace(settings, metrics=replace(metrics, port=metrics.port + worker))
    app = create_app(settings, metrics_listener=True)
    loop = new_event_loop()
    try:
        loop.run_until_complete(_serve(app, settings, reuse_port, web_root, on_listening))
    finally:
        _close_loop(loop)
    # Flood counts still pending, before the process ends (a worker process ends without
    # running ``logging.shutdown``).
    flush_repeated()


async def _serve(
    app: web.Application,
    settings: Settings,
    reuse_port: bool,
    web_root: str,
    on_listening: Callable[[], None] | None,
) -> None:
    s = settings.server
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def on_signal(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=s.shutdown_timeout_seconds
    )
    connections = 0
    try:
        try:
            await runner.setup()  # roomkey's parts start, the metrics listener binds
            site = web.TCPSite(runner, s.host, s.port, reuse_port=reuse_port or None)
            await site.start()
        except OSError as exc:
            raise StartupError(f"cannot listen: {_bind_problem(exc)}", EXIT_BIND) from None
        log.info("%s", start_line(settings, web_root))
        if on_listening is not None:
            on_listening()
        received = await stop
        from roomkey.runtime import RUNTIME  # loaded by create_app already

        rt = app.get(RUNTIME)
        connections = len(rt.hub.connections) if rt is not None else 0
        stopping_since = time.monotonic()
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info(
        "roomkey stopped on %s: %d connection(s) told to reconnect (4200) and drained in %.1f s",
        signal.Signals(received).name,
        connections,
        time.monotonic() - stopping_since,
    )


def _bind_problem(exc: OSError) -> str:
    """An ``OSError`` from binding as one line: asyncio's message names the address
    (``error while attempting to bind on address ('127.0.0.1', 6001): address already in
    use``)."""
    text = str(exc)
    if text.startswith("[Errno"):
        text = text.split("] ", 1)[-1]
    return text


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left on ``loop`` (as ``web.run_app`` does), then close it."""
    try:
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop on which an exception no task or callback handled is one
    flood-controlled log line (``log_loop_exception``), not asyncio's traceback with the
    reprs of the task and transport (which can quote request bytes)."""
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(log_loop_exception)
    return loop


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def stop_with_parent(parent_pid: int) -> bool:
    """Ask the kernel to send this process SIGTERM when its parent dies (Linux only); if
    the parent is already gone (it died before this ran), SIGTERM now. True when armed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = bool(libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False
    if armed and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)
    return armed


def _worker_main(settings: Settings, parent_pid: int, index: int, web_root: str) -> None:
    # Its own process group: a terminal's Ctrl-C reaches only the parent, which forwards one
    # SIGTERM; a second signal during the graceful stop would cut it short.
    os.setpgrp()
    configure_logging(settings.server.log_format, settings.server.log_level)
    if not stop_with_parent(parent_pid):
        log.warning("this worker keeps running if its parent is killed (no PR_SET_PDEATHSIG)")
    try:
        run_server(settings, reuse_port=True, worker=index, web_root=web_root)
    except StartupError as exc:
        log.error("worker %d cannot start: %s", index, exc.message)
        raise SystemExit(exc.code) from None


def run_workers(settings: Settings, web_root: str = "") -> int:
    """Run ``settings.server.workers`` worker processes until a signal; the exit status (a
    worker's own when one fails at start: ``startup.EXIT_BIND``...)."""
    ctx = multiprocessing.get_context("spawn")
    count = settings.server.workers
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def start(index: int) -> tuple[BaseProcess, float]:
        proc = ctx.Process(
            target=_worker_main,
            args=(settings, os.getpid(), index, web_root),
            name="roomkey-worker",
        )
        proc.start()
        return proc, time.monotonic()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers = [start(i) for i in range(count)]
    log.info("started %d workers: %s", count, " ".join(str(p.pid) for p, _ in workers))
    status = 0
    while not stopping:
        wait([p.sentinel for p, _ in workers], timeout=0.5)
        for i, (proc, started) in enumerate(workers):
            if proc.is_alive() or stopping:
                continue
            if time.monotonic() - started < EARLY_EXIT_SECONDS:
                log.error(
                    "worker %s exited at start (status %s): stopping", proc.pid, proc.exitcode
                )
                stopping, status = True, proc.exitcode or EXIT_FAILURE
                if status < 0:  # killed by a signal
                    status = EXIT_FAILURE
                break
            log.warning("worker %s exited (status %s): replacing it", proc.pid, proc.exitcode)
            workers[i] = start(i)  # same index: the same metrics port
    for proc, _ in workers:
        if proc.is_alive():
            proc.terminate()  # SIGTERM: the worker's graceful stop
    deadline = time.monotonic() + settings.server.shutdown_timeout_seconds + 5
    for proc, _ in workers:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            log.warning("worker %s did not stop in time: killing it", proc.pid)
            proc.kill()
            proc.join(5)
    return status
