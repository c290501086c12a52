"""``roomkey``'s public API: exactly ``__all__``, each name documented, the documented long
names (``roomkey.app.setup``, ``roomkey.config.load_settings``...) the same objects, and an
application built from the public names alone served on loopback."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing

import aiohttp
from aiohttp import web

import roomkey
import roomkey.app
import roomkey.config
import roomkey.core.errors
import roomkey.core.members
import roomkey.handle
import roomkey.hooks
import roomkey.http.mounting
import roomkey.hub.publishing


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from roomkey import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(roomkey.__all__)
    assert len(set(roomkey.__all__)) == len(roomkey.__all__)
    assert {
        "setup",
        "create_app",
        "load_settings",
        "parse_settings",
        "development_settings",
        "Settings",
        "AppSettings",
        "ConfigError",
    } <= set(roomkey.__all__)


def test_every_settings_dataclass_is_public() -> None:
    # What an application may build in code: Settings and every table it is made of.
    tables = {
        name
        for name in roomkey.config.__all__
        if isinstance(getattr(roomkey.config, name), type)
        and getattr(roomkey.config, name) is not roomkey.ConfigError
    }
    assert tables <= set(roomkey.__all__), tables - set(roomkey.__all__)


def test_each_public_name_has_a_docstring() -> None:
    for name in roomkey.__all__:
        value = getattr(roomkey, name)
        if typing.get_origin(value) is typing.Literal:
            # A type alias has no docstring of its own: the package's documents it.
            assert f"``{name}``" in (roomkey.__doc__ or ""), name
            continue
        doc = inspect.getdoc(value)
        assert doc, f"roomkey.{name} has no docstring"
        # A dataclass without a docstring gets its signature as one.
        assert not doc.startswith(f"{name}("), f"roomkey.{name} has no docstring"


def test_public_names_are_the_documented_ones() -> None:
    assert roomkey.setup is roomkey.app.setup
    assert roomkey.create_app is roomkey.app.create_app
    homes = [roomkey.config, roomkey.core.errors, roomkey.core.members, roomkey.handle]
    homes += [roomkey.hooks, roomkey.http.mounting, roomkey.hub.publishing]
    for name in roomkey.__all__:
        if name not in ("setup", "create_app"):
            home = [m for m in homes if name in vars(m)]
            assert home, f"roomkey.{name} has no documented home"
            assert getattr(roomkey, name) is getattr(home[0], name), name


def test_import_roomkey_loads_neither_aiohttp_nor_socketio() -> None:
    script = (
        "import sys, roomkey\n"
        "heavy = [m for m in ('aiohttp', 'socketio', 'engineio', 'redis') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "roomkey.create_app\n"
        "assert 'aiohttp' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


async def test_an_app_built_from_public_names_serves() -> None:
    settings = roomkey.Settings(
        apps=(roomkey.AppSettings(id="1", key="public-api", secret="public-api-secret-0123"),),
        # No metrics listener: its fixed port would be shared with whatever else runs.
        metrics=roomkey.MetricsSettings(enabled=False),
    )
    host = web.Application()
    roomkey.setup(host, settings, operations=True)
    runner = web.AppRunner(host)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as resp,
        ):
            assert resp.status == 200
    finally:
        await runner.cleanup()
