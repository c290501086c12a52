"""Hostile input: property-based fuzzing of Socket.IO requests and authorize bodies, and
hostile HTTP. No crash, no unhandled exception in the logs, no state change from a refusal,
and other clients keep working."""

from __future__ import annotations

import copy
import gzip
import json
import logging
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomkey.app import SOCKETIO
from roomkey.config import RateLimits
from tests.support.apps import make_settings, make_token
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(["channel", "auth", "channel_data", "event", "data", "user_data"])
channels = st.sampled_from(
    [
        "public-a",
        "private-user-42",
        "presence-room",
        "private-encrypted-user-42",
        "#server-to-user-42",
    ]
) | st.text(max_size=30)
requests = (
    st.fixed_dictionaries(
        {},
        optional={
            "channel": channels | json_values,
            "auth": st.text(max_size=80) | json_values,
            "channel_data": st.text(max_size=60) | json_values,
            "event": st.text(max_size=30) | json_values,
            "data": json_values,
            "user_data": st.text(max_size=60) | json_values,
        },
    )
    | json_values
)
events = st.sampled_from(["subscribe", "unsubscribe", "trigger", "signin", "nonsense"])


def snapshot(server: Server, socket_id: str) -> Any:
    conn = server.runtime.hub.connections[socket_id]
    return (copy.deepcopy(conn.channels), conn.user, sorted(server.runtime.hub.connections))


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]


@pytest.fixture
async def fuzz_target(start_server: StartServer, connect: ConnectClient) -> Any:
    settings_ = replace(
        make_settings(), rate_limits=RateLimits(subscribes_per_minute_per_connection=0)
    )
    server = await start_server(settings_)
    client = await connect(server, token=make_token("42"))
    bystander = await connect(server)
    assert await bystander.subscribe("public-watch") == {"channel": "public-watch"}
    return server, client, bystander


@FUZZ
@given(event=events, payload=requests)
async def test_fuzzed_socketio_requests(
    fuzz_target: Any, caplog: pytest.LogCaptureFixture, event: str, payload: Any
) -> None:
    server, client, _ = fuzz_target
    before = snapshot(server, client.socket_id)
    answer = await client.call(event, payload)
    assert isinstance(answer, dict)
    if "error" in answer:
        assert isinstance(answer["error"]["code"], int)
        assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
        assert snapshot(server, client.socket_id) == before
    assert client.client.connected
    no_errors_logged(caplog)


async def test_fuzz_left_other_clients_working(fuzz_target: Any) -> None:
    server, _, bystander = fuzz_target
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["public-watch"], "still", "alive")
    assert (await bystander.next("event"))["data"] == "alive"


bodies = st.one_of(
    st.binary(max_size=300).map(lambda b: ("application/x-www-form-urlencoded", b)),
    json_values.map(lambda v: ("application/json", json.dumps(v).encode())),
    st.dictionaries(
        st.sampled_from(["socket_id", "channel_name", "app_key"]), st.text(max_size=40)
    ).map(lambda d: ("application/json", json.dumps(d).encode())),
    st.tuples(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz/+-.;= ", max_size=30), st.binary(max_size=100)
    ),
)


@FUZZ
@given(body=bodies, path=st.sampled_from(["/pusher/auth", "/pusher/user-auth"]))
async def test_fuzzed_authorize_bodies(
    fuzz_target: Any, caplog: pytest.LogCaptureFixture, body: tuple[str, bytes], path: str
) -> None:
    server, client, _ = fuzz_target
    before = snapshot(server, client.socket_id)
    ctype, data = body
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}{path}",
            data=data,
            headers={"Content-Type": ctype, "Authorization": f"Bearer {make_token('42')}"},
        )
        assert resp.status in (200, 400, 401, 403, 413), await resp.text()
        if resp.status != 200:
            assert "error" in await resp.json()
    assert snapshot(server, client.socket_id) == before
    no_errors_logged(caplog)


async def test_hostile_http(start_server: StartServer, connect: ConnectClient) -> None:
    server = await start_server(
        replace(make_settings(), rate_limits=RateLimits(authorize_per_minute_per_address=100))
    )
    watcher = await connect(server)
    await watcher.subscribe("public-watch")
    url = f"{server.url}/pusher/auth"
    auth = {"Authorization": f"Bearer {make_token('7')}"}
    async with aiohttp.ClientSession() as http:
        # A body over the limit.
        resp = await http.post(url, data=b"a=" + b"x" * 20_000, headers=auth)
        assert resp.status == 413
        # A gzip bomb: 64 KB on the wire, 64 MB inflated.
        bomb = gzip.compress(b"socket_id=" + b"0" * (64 * 1024 * 1024), 9)
        resp = await http.post(
            url,
            data=bomb,
            headers={
                **auth,
                "Content-Encoding": "gzip",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert resp.status == 413
        # Huge headers.
        resp = await http.post(url, data=b"", headers={**auth, "X-Junk": "j" * 100_000})
        assert 400 <= resp.status < 500
        # Many small requests: the per-address rate answers 429 once the budget is spent.
        statuses = []
        for _ in range(110):
            r = await http.post(
                url, data={"socket_id": "1.1", "channel_name": "private-x"}, headers=auth
            )
            statuses.append(r.status)
            await r.read()
        assert statuses.count(429) >= 5
        assert set(statuses) <= {200, 429}
        # An oversized long-polling POST is refused and the polling session closed, without
        # waiting for a client that never polls again.
        eio = f"{server.url}/socket.io/?EIO=4&transport=polling"
        opened = json.loads((await (await http.get(eio)).text())[1:])
        resp = await http.post(
            f"{eio}&sid={opened['sid']}",
            data=b"4" + b"x" * 300_000,
            timeout=aiohttp.ClientTimeout(total=10),
        )
        assert resp.status == 400
        resp = await http.get(f"{eio}&sid={opened['sid']}")
        assert resp.status == 400
        # Everyone else carries on.
        assert (await http.get(f"{server.url}/healthz")).status == 200
    rt = server.runtime
    await rt.hub.publish(rt.apps.default, ["public-watch"], "still", "alive")
    assert (await watcher.next("event"))["data"] == "alive"


async def test_malformed_origin_is_refused_not_a_crash(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roomkey")
    server = await start_server()
    async with aiohttp.ClientSession() as http:
        resp = await http.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1.1", "channel_name": "private-user-7"},
            headers={"Authorization": f"Bearer {make_token('7')}", "Origin": "http://["},
        )
        assert resp.status == 403
        resp = await http.get(
            f"{server.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": "http://["}
        )
        assert resp.status == 400
    assert server.runtime.hub.connections == {}
    assert server.app[SOCKETIO].sio.eio.sockets == {}
    no_errors_logged(caplog)
    assert [r.getMessage() for r in caplog.records if r.name == "roomkey"] == [
        "refused authorize",
        "refused socketio origin",
    ]
