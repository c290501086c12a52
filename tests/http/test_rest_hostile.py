"""Hostile REST requests: every signature problem is a 401, every bad input a 400/413, and a
refused request publishes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.apps import APP_ID, OTHER_APP
from tests.support.rest import join, raw, sign, signed_get, signed_post
from tests.support.servers import Server
from tests.support.socketio_client import ConnectClient, SioClient

EVENTS = f"/apps/{APP_ID}/events"
GOOD = {"name": "evt", "channel": "private-watch", "data": "payload"}


@pytest.fixture
async def watcher(server: Server, connect: ConnectClient) -> AsyncIterator[SioClient]:
    """A subscriber of private-watch that must receive nothing from a refused request."""
    client = await connect(server)
    await join(client, server, "private-watch")
    yield client
    await client.nothing("event", within=0.2)


def _body(payload: object = GOOD) -> bytes:
    return json.dumps(payload).encode()


async def test_a_correct_request_is_accepted(server: Server, connect: ConnectClient) -> None:
    # The control for every case below: the same helpers, unmodified, publish.
    client = await connect(server)
    await join(client, server, "private-watch")
    answer = await signed_post(server, EVENTS, GOOD)
    assert (answer.status, answer.body) == (200, {})
    assert (await client.next("event"))["data"] == "payload"


@pytest.mark.parametrize(
    "tamper",
    [
        "no_signature",
        "wrong_signature",
        "stale_timestamp",
        "future_timestamp",
        "body_changed",
        "path_changed",
        "app_changed",
        "other_apps_key",
        "unknown_key",
        "no_body_md5",
        "bad_version",
        "query_added",
    ],
)
async def test_signature_problems_are_401(server: Server, watcher: SioClient, tamper: str) -> None:
    body = _body()
    path = EVENTS
    kw: dict[str, Any] = {}
    if tamper == "stale_timestamp":
        kw["timestamp"] = int(time.time()) - 601
    if tamper == "future_timestamp":
        kw["timestamp"] = int(time.time()) + 601
    if tamper == "other_apps_key":
        kw.update(key=OTHER_APP.key, secret=OTHER_APP.secret)
    if tamper == "unknown_key":
        kw.update(key="nobody", secret="whatever-secret-000")
    if tamper == "no_body_md5":
        kw["with_md5"] = False
    query = sign("POST", path, body, **kw)
    if tamper == "no_signature":
        del query["auth_signature"]
    if tamper == "wrong_signature":
        query["auth_signature"] = "0" * 64
    if tamper == "body_changed":
        body = _body({**GOOD, "data": "forged"})
    if tamper == "path_changed":
        path = f"/apps/{APP_ID}/batch_events"
        body = _body({"batch": [GOOD]})
        query = sign("POST", EVENTS, body)
    if tamper == "app_changed":
        # Signed for this app's path, sent to the other app's path with the same key.
        path = f"/apps/{OTHER_APP.id}/events"
    if tamper == "bad_version":
        query["auth_version"] = "2.0"
    if tamper == "query_added":
        query["socket_id"] = "1.1"
    answer = await raw(server, "POST", path, query, body)
    assert answer.status == 401, (tamper, answer.body)
    assert answer.body["error"]["code"] == 4009
    if query.get("auth_signature"):
        assert query["auth_signature"] not in json.dumps(answer.body)  # never echoed


async def test_signature_from_the_other_app_on_its_own_path_does_not_reach_this_app(
    server: Server, watcher: SioClient
) -> None:
    path = f"/apps/{OTHER_APP.id}/events"
    answer = await signed_post(server, path, GOOD, key=OTHER_APP.key, secret=OTHER_APP.secret)
    assert answer.status == 200  # published in the other app, not seen by this app's watcher


async def test_get_with_a_changed_query_is_401(server: Server) -> None:
    path = f"/apps/{APP_ID}/channels"
    query = sign("GET", path, params={"filter_by_prefix": "presence-"})
    query["filter_by_prefix"] = "private-"
    answer = await raw(server, "GET", path, query)
    assert answer.status == 401
    good = await signed_get(server, path, {"filter_by_prefix": "presence-"})
    assert (good.status, good.body) == (200, {"channels": {}})


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({**GOOD, "data": "x" * (10 * 1024 + 1)}, 413),
        ({"name": "evt", "channels": [f"c{i}" for i in range(101)], "data": "x"}, 400),
        ({"name": "evt", "channels": [], "data": "x"}, 400),
        ({**GOOD, "name": "pusher:subscribe"}, 400),
        ({**GOOD, "name": "pusher_internal:member_added"}, 400),
        ({**GOOD, "name": ""}, 400),
        ({**GOOD, "name": "n" * 201}, 400),
        ({**GOOD, "channel": "bad channel!"}, 400),
        ({**GOOD, "channel": "c" * 165}, 400),
        ({**GOOD, "data": {"not": "a string"}}, 400),
        ({"name": "evt", "data": "x"}, 400),
        ({**GOOD, "socket_id": "not-a-socket"}, 400),
        ({**GOOD, "info": "everything"}, 400),
        (["not", "an", "object"], 400),
    ],
)
async def test_bad_events_are_refused(
    server: Server, watcher: SioClient, payload: object, status: int
) -> None:
    answer = await signed_post(server, EVENTS, payload)
    assert answer.status == status, answer.body
    assert answer.body["error"]["message"]


async def test_batch_limits(server: Server, watcher: SioClient) -> None:
    path = f"/apps/{APP_ID}/batch_events"
    eleven = {"batch": [GOOD] * 11}
    assert (await signed_post(server, path, eleven)).status == 400
    assert (await signed_post(server, path, {"batch": []})).status == 400
    # One bad event refuses the whole batch: the good one before it is not published.
    bad_second = {"batch": [GOOD, {**GOOD, "data": "x" * (10 * 1024 + 1)}]}
    assert (await signed_post(server, path, bad_second)).status == 413
    multi = {"batch": [{"name": "e", "channels": ["private-watch"], "data": "x"}]}
    assert (await signed_post(server, path, multi)).status == 400


async def test_malformed_json_and_wrong_content_type(server: Server, watcher: SioClient) -> None:
    broken = b'{"name": "evt", "channel": '
    answer = await raw(server, "POST", EVENTS, sign("POST", EVENTS, broken), broken)
    assert answer.status == 400
    assert "JSON" in answer.body["error"]["message"]
    body = _body()
    form = await raw(
        server,
        "POST",
        EVENTS,
        sign("POST", EVENTS, body),
        body,
        content_type="application/x-www-form-urlencoded",
    )
    assert form.status == 400
    assert "content type" in form.body["error"]["message"]


async def test_wrong_method_is_405(server: Server) -> None:
    answer = await raw(server, "GET", EVENTS, sign("GET", EVENTS))
    assert answer.status == 405
    post = await raw(
        server, "POST", f"/apps/{APP_ID}/channels", sign("POST", f"/apps/{APP_ID}/channels")
    )
    assert post.status == 405


async def test_oversized_body_is_413(server: Server, watcher: SioClient) -> None:
    body = _body({**GOOD, "data": "x" * (2 * 1024 * 1024)})
    answer = await raw(server, "POST", EVENTS, sign("POST", EVENTS, body), body)
    assert answer.status == 413
