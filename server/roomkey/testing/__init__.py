"""roomkey's test kit, for applications' own test suites (and roomkey's own tests, which
use the same code). Documented in docs/testing.md.

In a ``conftest.py``, one line adds the pytest plugin (its fixtures, and a clear error when
async tests would not run)::

    pytest_plugins = ["roomkey.testing.plugin"]

What this package gives, importable without pytest:

- ``test_settings(**overrides)``, ``redis_test_settings(url)``: settings for a test (one app,
  fresh random secrets, memory or Redis backends).
- ``Clients``, ``open_client``, ``RoomkeyClient``: a test client over Socket.IO (polling then
  upgrade, or WebSocket only) or over the Pusher protocol, one API, chosen by
  ``transport`` (``TRANSPORTS``): ``connect``, ``socket_id``, its own cookie jar and token,
  ``authorize``, ``subscribe``, ``next_event``, ``assert_no_event``, ``trigger``, ``close``.
- ``login``: log a client in through roomkey's own session store.
- ``TokenFactory``: JWTs for the configured ``[jwt]``.
- ``Recorder``: the hook calls (through ``Roomkey.on``) and the events published on watched
  channels (a real subscriber), for assertions.
- ``WebhookReceiver``: a real local webhook endpoint that checks signatures.
- ``RedisServer``: a real redis-server process.
- ``wait_for_condition``: wait until something holds, with a deadline.
"""

from __future__ import annotations

from roomkey.testing.client import TRANSPORTS, Answer, RoomkeyClient
from roomkey.testing.clients import Clients, open_client
from roomkey.testing.events import (
    MEMBER_ADDED,
    MEMBER_REMOVED,
    Event,
    Refused,
    Subscription,
)
from roomkey.testing.login import login
from roomkey.testing.pusher_client import PusherClient
from roomkey.testing.recorder import Recorder
from roomkey.testing.redis_server import RedisServer, free_port
from roomkey.testing.settings import (
    DEFAULT_RULES,
    redis_test_settings,
    test_redis_settings,
    test_settings,
)
from roomkey.testing.socketio_client import SocketIOClient
from roomkey.testing.target import AiohttpServer, Target, target_of
from roomkey.testing.tokens import TokenFactory
from roomkey.testing.waiting import wait_for_condition, wait_for_condition_blocking
from roomkey.testing.webhooks import WebhookCall, WebhookReceiver

__all__ = [
    "DEFAULT_RULES",
    "MEMBER_ADDED",
    "MEMBER_REMOVED",
    "TRANSPORTS",
    "AiohttpServer",
    "Answer",
    "Clients",
    "Event",
    "PusherClient",
    "Recorder",
    "RedisServer",
    "Refused",
    "RoomkeyClient",
    "SocketIOClient",
    "Subscription",
    "Target",
    "TokenFactory",
    "WebhookCall",
    "WebhookReceiver",
    "free_port",
    "login",
    "open_client",
    "redis_test_settings",
    "target_of",
    "test_redis_settings",
    "test_settings",
    "wait_for_condition",
    "wait_for_condition_blocking",
]
