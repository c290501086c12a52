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
from dataclasses import replace
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType

from aiohttp import web

from roomkey.config import Settings
from roomkey.logs import configure_logging, flush_repeated, log_loop_exception

log = logging.getLogger("roomkey")

EARLY_EXIT_SECONDS = 3.0  # a worker dying sooner than this after its start is not restarted


def run_server(settings: Settings, *, reuse_port: bool = False, worker: int = 0) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully (clients told 4200, presence left at
    once, in-flight requests given ``server.shutdown_timeout_seconds``). ``worker``: this
    process's index among ``server.workers`` (its metrics port is ``metrics.port + worker``).
    Raises ``OSError`` when a listener cannot bind its address."""
    # Imported here: the CLI's other commands (check-config, sign) and the parent of the
    # workers never build an application, so they do not load the transports.
    from roomkey.app import create_app

    s = settings.server
    metrics = settings.metrics
    if metrics.port:
        settings = replace(settings, metrics=replace(metrics, port=metrics.port + worker))
    web.run_app(
        create_app(settings, metrics_listener=True),
        host=s.host,
        port=s.port,
        print=None,
        shutdown_timeout=s.shutdown_timeout_seconds,
        access_log=None,
        reuse_port=reuse_port or None,
        loop=new_event_loop(),
    )
    # Flood counts still pending, before the process ends (a worker process ends without
    # running ``logging.shutdown``).
    flush_repeated()


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


def _worker_main(settings: Settings, parent_pid: int, index: int) -> None:
    # Its own process group: a terminal's Ctrl-C reaches only the parent, which forwards one
    # SIGTERM; a second signal during the graceful stop would cut it short.
    os.setpgrp()
    configure_logging(settings.server.log_format, settings.server.log_level)
    if not stop_with_parent(parent_pid):
        log.warning("this worker keeps running if its parent is killed (no PR_SET_PDEATHSIG)")
    try:
        run_server(settings, reuse_port=True, worker=index)
    except OSError as exc:
        log.error("worker %d cannot start: %s", index, exc)
        raise SystemExit(1) from None


def run_workers(settings: Settings) -> int:
    """Run ``settings.server.workers`` worker processes until a signal; the exit status."""
    ctx = multiprocessing.get_context("spawn")
    count = settings.server.workers
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def start(index: int) -> tuple[BaseProcess, float]:
        proc = ctx.Process(
            target=_worker_main, args=(settings, os.getpid(), index), name="roomkey-worker"
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
                stopping, status = True, 1
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
