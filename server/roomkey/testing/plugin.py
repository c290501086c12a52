"""roomkey's pytest plugin. An application's test suite opts in with one line in its
top-level ``conftest.py``::

    pytest_plugins = ["roomkey.testing.plugin"]

It then has these fixtures (each function-scoped unless said otherwise; override any of
them in a conftest.py by defining a fixture of the same name):

- ``roomkey_settings``: ``test_settings()`` (one app, fresh secrets, memory backends).
- ``roomkey_server``: a standalone roomkey (``roomkey.create_app(roomkey_settings)``) on
  pytest-aiohttp's ``aiohttp_server``, on a free loopback port.
- ``roomkey_clients``: a ``Clients`` that closes every client it opened at teardown.
- ``roomkey_transport``: parametrized over ``TRANSPORTS`` (Socket.IO with polling then
  upgrade, Socket.IO over WebSocket only, the Pusher protocol): a test that asks for it
  runs once per transport.
- ``roomkey_tokens``: a ``TokenFactory`` for ``roomkey_settings``' ``[jwt]``.
- ``roomkey_recorder``: a ``Recorder`` (``attach(app)`` for hook calls, ``await
  watch(server, channel)`` for what is published), its watchers closed at teardown.
- ``roomkey_webhooks``: a started ``WebhookReceiver`` (put ``roomkey_webhooks.url()`` in
  the settings: ``test_settings(webhook_url=...)``).
- ``roomkey_redis`` (session scope): a real redis-server for the session;
  ``roomkey_redis_url`` its URL. A missing redis-server fails the test that asks for it.

Async tests and fixtures need pytest-asyncio (pytest-aiohttp brings it) in auto mode
(``asyncio_mode = "auto"`` in the pytest configuration), or each async test marked
``@pytest.mark.asyncio``. Without either, pytest would not run them (each one errors or is
skipped with a warning that does not say why): this plugin stops at collection instead and
names the fix. The kit's own async fixtures are declared with pytest-asyncio, so they work in
both modes.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from roomkey.config import Settings
from roomkey.testing.client import TRANSPORTS
from roomkey.testing.clients import Clients
from roomkey.testing.recorder import Recorder
from roomkey.testing.redis_server import RedisServer
from roomkey.testing.settings import test_settings
from roomkey.testing.target import AiohttpServer
from roomkey.testing.tokens import TokenFactory
from roomkey.testing.webhooks import WebhookReceiver

FIX = (
    'add asyncio_mode = "auto" to your pytest configuration ([tool.pytest.ini_options] in '
    "pyproject.toml, or [pytest] in pytest.ini), or mark each async test with "
    "@pytest.mark.asyncio"
)


def async_tests_without_a_runner(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    """The ids of collected ``async def`` tests that pytest-asyncio will not run: all of
    them when it is not installed, those without the ``asyncio`` marker in strict mode."""
    coroutines = [
        item
        for item in items
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj)
    ]
    if not config.pluginmanager.hasplugin("asyncio"):
        return [item.nodeid for item in coroutines]
    if _asyncio_mode(config) == "auto":
        return []
    return [item.nodeid for item in coroutines if item.get_closest_marker("asyncio") is None]


def _asyncio_mode(config: pytest.Config) -> str:
    mode = config.getoption("asyncio_mode", None) or config.getini("asyncio_mode")
    return str(mode)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Stop with a usage error naming the fix when some async test would not run."""
    stranded = async_tests_without_a_runner(config, items)
    if not stranded:
        return
    if not config.pluginmanager.hasplugin("asyncio"):
        why = "pytest-asyncio is not installed (pip install 'roomkey[testing]' brings it)"
    else:
        why = f'pytest-asyncio runs in {_asyncio_mode(config)!r} mode, not "auto"'
    shown = "\n  ".join(stranded[:5]) + ("\n  ..." if len(stranded) > 5 else "")
    raise pytest.UsageError(
        f"roomkey.testing: {len(stranded)} async test(s) would not run, because {why}:\n"
        f"  {shown}\nFix: {FIX}."
    )


@pytest.fixture
def roomkey_settings() -> Settings:
    """``test_settings()``: one app with fresh random credentials, memory backends."""
    return test_settings()


@pytest_asyncio.fixture
async def roomkey_server(aiohttp_server: AiohttpServer, roomkey_settings: Settings) -> TestServer:
    """A standalone roomkey (``create_app(roomkey_settings)``) on a free loopback port."""
    import roomkey

    return await aiohttp_server(roomkey.create_app(roomkey_settings))


@pytest_asyncio.fixture
async def roomkey_clients() -> AsyncIterator[Clients]:
    """``await roomkey_clients.connect(server, transport, user=..., token=...)``; every
    client opened here is closed at teardown."""
    async with Clients() as clients:
        yield clients


@pytest.fixture(params=TRANSPORTS)
def roomkey_transport(request: pytest.FixtureRequest) -> str:
    """Each of ``TRANSPORTS`` in turn: the test runs once per transport."""
    return str(request.param)


@pytest.fixture
def roomkey_tokens(roomkey_settings: Settings) -> TokenFactory:
    """Tokens for ``roomkey_settings``' ``[jwt]``: ``roomkey_tokens.make("alice")``."""
    return TokenFactory(roomkey_settings)


@pytest_asyncio.fixture
async def roomkey_recorder() -> AsyncIterator[Recorder]:
    """A ``Recorder``; its watchers are closed at teardown."""
    recorder = Recorder()
    yield recorder
    await recorder.close()


@pytest_asyncio.fixture
async def roomkey_webhooks() -> AsyncIterator[WebhookReceiver]:
    """A webhook endpoint listening on a free loopback port until teardown."""
    async with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def roomkey_redis() -> Iterator[RedisServer]:
    """A real redis-server for the whole session (tests keep apart by key prefix:
    ``test_settings(redis_url=...)`` picks a new one each time)."""
    try:
        server = RedisServer.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def roomkey_redis_url(roomkey_redis: RedisServer) -> str:
    """The session's redis-server URL."""
    return roomkey_redis.url
