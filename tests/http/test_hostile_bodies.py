"""Hostile bodies on the HTTP edges: JSON nested 10,000 levels deep is a clean 400 with the
error JSON on the authorize endpoints and the REST API (never a RecursionError, a 500 or a
traceback in the log); a REST event cannot name a ``private-encrypted-`` channel beside any
other channel (as Pusher), on ``events`` and ``batch_events`` alike. A refused request
publishes nothing, and the server goes on serving."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from roomkey.config import Limits
from tests.support.apps import APP_ID, make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.rest import join, raw, sdk, sign, signed_post
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient

EVENTS = f"/apps/{APP_ID}/events"
BATCH = f"/apps/{APP_ID}/batch_events"
DEPTH = 10_000
DEEP_BODIES = {
    "arrays": b"[" * DEPTH + b"]" * DEPTH,
    "objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
}


async def join_encrypted(client: SioClient, server: Server, channel: str) -> None:
    """Subscribe to an encrypted channel with an ``auth`` the Python SDK signed."""
    signed = sdk(server, encryption_master_key=bytes(range(32))).authenticate(
        channel, client.socket_id
    )
    ack = await client.subscribe(channel, auth=signed["auth"])
    assert ack.get("channel") == channel, ack


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]
    assert not [r for r in caplog.records if "RecursionError" in r.getMessage()]


@pytest.fixture
async def watched(server: Server, connect: ConnectClient) -> AsyncIterator[Server]:
    """The server, with a subscriber of private-watch and private-encrypted-watch that must
    receive nothing from a refused request."""
    client = await connect(server)
    await join(client, server, "private-watch")
    await join_encrypted(client, server, "private-encrypted-watch")
    yield server
    await client.nothing("event", within=0.2)


# -- deep JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EVENTS, BATCH])
@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
async def test_deep_json_in_a_signed_rest_body_is_a_clean_400(
    watched: Server, caplog: pytest.LogCaptureFixture, path: str, shape: str
) -> None:
    body = DEEP_BODIES[shape]
    answer = await raw(watched, "POST", path, sign("POST", path, body), body)
    assert answer.status == 400, answer
    assert answer.body == {"error": {"code": 4300, "message": "request body is not valid JSON"}}
    no_errors_logged(caplog)
    good = await signed_post(watched, EVENTS, {"name": "e", "channel": "public", "data": "{}"})
    assert good.status == 200, good


@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
async def test_deep_json_in_an_authorize_body_is_a_clean_400(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, shape: str
) -> None:
    # A body limit large enough for the nesting to reach the JSON parser.
    server = await start_server(make_settings(limits=Limits(max_authorize_body_bytes=64 * 1024)))
    for path in ("/pusher/auth", "/pusher/user-auth"):
        status, body, _ = await post_auth(
            server,
            data=DEEP_BODIES[shape],
            token=make_token("7"),
            headers={"Content-Type": "application/json"},
            path=path,
        )
        assert status == 400, body
        assert body["error"]["code"] == 4300, body
        assert "JSON" in body["error"]["message"], body
    no_errors_logged(caplog)
    status, body, _ = await post_auth(
        server,
        json_body={"socket_id": "1234.5678", "channel_name": "private-user-7"},
        token=make_token("7"),
    )
    assert status == 200, body


async def test_deep_json_over_the_default_authorize_limit_is_413_unparsed(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    status, body, _ = await post_auth(
        server,
        data=DEEP_BODIES["arrays"],
        token=make_token("7"),
        headers={"Content-Type": "application/json"},
    )
    assert status == 413, body
    assert body["error"]["code"] == 4100
    no_errors_logged(caplog)


# -- encrypted channels in multi-channel events --------------------------------------------


@pytest.mark.parametrize(
    "channels",
    [
        ["private-watch", "private-encrypted-watch"],
        ["private-encrypted-watch", "public-elsewhere"],
        ["private-encrypted-watch", "private-encrypted-other"],
    ],
)
async def test_an_encrypted_channel_beside_another_is_refused(
    watched: Server, channels: list[str]
) -> None:
    answer = await signed_post(
        watched, EVENTS, {"name": "e", "channels": channels, "data": '{"nonce":"","ciphertext":""}'}
    )
    assert answer.status == 400, answer
    assert answer.body["error"]["code"] == 4300
    assert "private-encrypted-" in answer.body["error"]["message"]


async def test_an_encrypted_channel_alone_is_published(
    server: Server, connect: ConnectClient
) -> None:
    client = await connect(server)
    await join_encrypted(client, server, "private-encrypted-watch")
    data = '{"nonce":"bm9uY2U=","ciphertext":"Y2lwaGVy"}'
    for payload in (
        {"name": "e", "channel": "private-encrypted-watch", "data": data},
        {"name": "e", "channels": ["private-encrypted-watch"], "data": data},
        # A repeated name is one channel.
        {"name": "e", "channels": ["private-encrypted-watch"] * 2, "data": data},
    ):
        answer = await signed_post(server, EVENTS, payload)
        assert (answer.status, answer.body) == (200, {}), (payload, answer)
        assert (await client.next("event"))["data"] == data
    await client.nothing("event", within=0.2)


async def test_a_batch_may_mix_encrypted_and_other_events_one_channel_each(
    server: Server, connect: ConnectClient
) -> None:
    # As Pusher: each batch event names one channel, so an encrypted one is on its own.
    client = await connect(server)
    await join_encrypted(client, server, "private-encrypted-watch")
    await join(client, server, "private-watch")
    batch = {
        "batch": [
            {"name": "e", "channel": "private-encrypted-watch", "data": "sealed"},
            {"name": "e", "channel": "private-watch", "data": "plain"},
        ]
    }
    answer = await signed_post(server, BATCH, batch)
    assert (answer.status, answer.body) == (200, {}), answer
    got = {(await client.next("event"))["data"], (await client.next("event"))["data"]}
    assert got == {"sealed", "plain"}


async def test_a_batch_event_naming_channels_is_refused_whole(watched: Server) -> None:
    batch = {
        "batch": [
            {"name": "e", "channel": "private-watch", "data": "x"},
            {"name": "e", "channels": ["private-watch", "private-encrypted-watch"], "data": "x"},
        ]
    }
    answer = await signed_post(watched, BATCH, batch)
    assert answer.status == 400, answer
    assert json.dumps(answer.body).count("error") == 1
