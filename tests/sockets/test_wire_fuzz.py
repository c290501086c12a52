"""Property-based fuzzing at the wire level, against a real server on loopback: Pusher frames
and Socket.IO packets (text and binary frames, JSON nested far past any limit, the server's
own event names, packets of every type). Whatever arrives:

- nothing is logged with a traceback, and the log grows by a bounded amount per frame
  (measured as roomkey writes it: its formatter and flood control);
- a text frame that is Engine.IO (or any Pusher text frame) never ends the socket: it still
  answers a well-formed request; binary ends it with an error first, and text that is not
  Engine.IO (or Engine.IO's CLOSE) ends it;
- the hub forgets the fuzzing socket once it is gone, and a well-behaved client of each
  transport keeps receiving what is published.

Example counts are small (CI runs on two cores): the whole file takes a few seconds.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from roomkey.config import RateLimits
from roomkey.logs import RepeatFilter, TextFormatter
from tests.support.apps import APP_KEY, make_settings
from tests.support.pusher import RawPusher, RawPusherFactory
from tests.support.raw_socketio import raw_connected
from tests.support.servers import Server, StartServer
from tests.support.socketio_client import ConnectClient, SioClient
from tests.support.waiting import wait_for_condition

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# A refusal line is at most a few hundred bytes (values are truncated to 200 characters).
LOG_BYTES_PER_FRAME = 1500

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
# Nesting from shallow to far past the interpreter's recursion limit, arrays or objects.
deep_json = st.builds(
    lambda levels, obj: (
        ('{"a":' * levels + "1" + "}" * levels) if obj else ("[" * levels + "]" * levels)
    ),
    st.integers(min_value=1, max_value=12_000),
    st.booleans(),
)
# Valid JSON, deeply nested JSON, or JSON cut short.
json_texts = (
    json_values.map(json.dumps)
    | deep_json
    | json_values.map(json.dumps).flatmap(
        lambda t: st.integers(0, max(0, len(t) - 1)).map(lambda n: t[:n])
    )
)
channels = st.sampled_from(
    ["news", "private-a", "presence-room", "private-encrypted-x", "#server-to-user-1", "bad name!"]
)


@dataclass
class ServerLog:
    """What roomkey writes to its log during the test (its formatter and flood control)."""

    stream: io.StringIO

    def text(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def server_log() -> Iterator[ServerLog]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield ServerLog(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class Target:
    server: Server
    pusher: RawPusherFactory
    sio_bystander: SioClient
    pusher_bystander: RawPusher
    log: ServerLog

    def bystander_ids(self) -> set[str]:
        return {self.sio_bystander.socket_id, self.pusher_bystander.socket_id}

    async def still_serving(self) -> None:
        """The fuzzing socket is gone from the hub, and both bystanders get a publish."""
        hub = self.server.runtime.hub
        await wait_for_condition(
            lambda: set(hub.connections) == self.bystander_ids(), "the fuzzing socket to go"
        )
        rt = self.server.runtime
        await rt.hub.publish(rt.apps.default, ["public-watch"], "still", "serving")
        assert (await self.sio_bystander.next("event"))["data"] == "serving"
        got = await self.pusher_bystander.next_event("still")
        assert got["data"] == "serving"

    def check_log(self, before: int, frames: int) -> None:
        new = self.log.text()[before:]
        assert "Traceback" not in new, new
        assert len(new.encode()) <= LOG_BYTES_PER_FRAME * (frames + 2), new


@pytest.fixture
async def target(
    start_server: StartServer,
    connect: ConnectClient,
    raw_pusher: RawPusherFactory,
    server_log: ServerLog,
) -> Target:
    server = await start_server(
        replace(make_settings(), rate_limits=RateLimits(subscribes_per_minute_per_connection=0))
    )
    sio_bystander = await connect(server)
    assert await sio_bystander.subscribe("public-watch") == {"channel": "public-watch"}
    pusher_bystander = await raw_pusher.established(server)
    ok = await pusher_bystander.subscribe("public-watch")
    assert ok["event"] == "pusher_internal:subscription_succeeded"
    return Target(server, raw_pusher, sio_bystander, pusher_bystander, server_log)


# -- Pusher frames ------------------------------------------------------------------------------

pusher_events = (
    st.sampled_from(
        [
            "pusher:subscribe",
            "pusher:unsubscribe",
            "pusher:ping",
            "pusher:pong",
            "pusher:signin",
            "pusher:connection_established",
            "pusher_internal:subscription_succeeded",
            "client-x",
        ]
    )
    | st.text(max_size=20)
    | json_values
)
pusher_data = (
    json_values
    | json_texts
    | st.fixed_dictionaries(
        {}, optional={"channel": channels | json_values, "auth": st.text(max_size=20)}
    )
)
pusher_text_frames = (
    st.fixed_dictionaries(
        {"event": pusher_events},
        optional={"channel": channels | json_values, "data": pusher_data},
    ).map(json.dumps)
    | json_texts
    | st.text(max_size=60)
)
pusher_frames = st.lists(
    pusher_text_frames.map(lambda t: ("text", t))
    | st.binary(max_size=200).map(lambda b: ("binary", b)),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(frames=pusher_frames)
async def test_fuzzed_pusher_frames(target: Target, frames: list[tuple[str, Any]]) -> None:
    before = len(target.log.text())
    client = await target.pusher.established(target.server)
    binary = False
    for kind, data in frames:
        if kind == "binary":
            await client.ws.send_bytes(data)
            binary = True
            break  # the server closes the socket
        await client.ws.send_str(data)
    if binary:
        # Everything the server sends is a JSON frame; the last before the close is the
        # binary's refusal, and the close carries its code.
        last = None
        while True:
            msg = await client.ws.receive(timeout=5)
            if msg.type.name in ("CLOSE", "CLOSED"):
                break
            last = json.loads(msg.data)
        assert last is not None and last["event"] == "pusher:error"
        assert last["data"]["code"] == 4300
        assert client.ws.close_code == 4300
    else:
        await client.send("pusher:ping", {})
        for _ in range(40):
            frame = await client.next(timeout=5)
            assert isinstance(frame.get("event"), str)
            if frame["event"] == "pusher:error":
                assert isinstance(frame["data"]["code"], int) and frame["data"]["message"]
            if frame["event"] == "pusher:pong":
                break
        else:
            raise AssertionError("no pong")
        await client.ws.close()
    await target.still_serving()
    target.check_log(before, len(frames))


# -- Socket.IO packets --------------------------------------------------------------------------

sio_events = (
    st.sampled_from(
        [
            "subscribe",
            "unsubscribe",
            "trigger",
            "signin",
            "connect",
            "disconnect",
            "connect_error",
            "*",
            "message",
        ]
    )
    | st.text(max_size=12)
    | json_values
)
sio_payloads = st.lists(
    json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "channel": channels | json_values,
            "event": st.text(max_size=12),
            "data": json_values,
        },
    ),
    max_size=2,
)
ack_ids = st.none() | st.integers(min_value=0, max_value=10**6)
namespaces = st.sampled_from(["", "", "", "/", "/other,"])


def event_packet(nsp: str, ack: int | None, event: Any, args: list[Any]) -> str:
    return f"42{nsp}{'' if ack is None else ack}{json.dumps([event, *args])}"


sio_text_packets = (
    st.builds(event_packet, namespaces, ack_ids, sio_events, sio_payloads)
    # Any Socket.IO packet type (DISCONNECT included), with any JSON after it.
    | st.builds(
        lambda kind, ack, body: f"4{kind}{'' if ack is None else ack}{body}",
        st.sampled_from("0123456789"),
        ack_ids,
        json_texts,
    )
    # Binary packet headers, sent as text: refused like binary.
    | st.builds(lambda kind, body: f"4{kind}1-{body}", st.sampled_from("56"), json_texts)
    # Engine.IO messages that are not Socket.IO, and text that is not even Engine.IO.
    | json_texts.map(lambda t: "4" + t)
    | st.text(max_size=40).map(lambda t: "4" + t)
    | st.text(max_size=12)
    | st.binary(max_size=30).map(lambda b: "b" + base64.b64encode(b).decode())
)


def effect(kind: str, data: Any) -> str | None:
    """What a frame does to the socket, as the protocols define it (not as roomkey's code
    happens to decide): ``binary`` (refused with an error, then closed), ``closed`` (not
    Engine.IO, or Engine.IO's CLOSE), ``left`` (Socket.IO's DISCONNECT), or None."""
    if kind == "binary":
        return "binary"
    if not data or data[0] not in "0123456b":
        return "closed"
    if data[0] == "b":
        try:
            base64.b64decode(data[1:])
        except ValueError:
            return "closed"
        return "binary"
    if data[0] == "1":
        return "closed"
    if data.startswith(("45", "46")):
        return "binary"
    if data.startswith("41"):
        return "left"
    return None


sio_frames = st.lists(
    sio_text_packets.map(lambda t: ("text", t))
    | st.binary(max_size=200).map(lambda b: ("binary", b)),
    min_size=1,
    max_size=4,
)


@FUZZ
@given(frames=sio_frames)
async def test_fuzzed_socketio_packets(target: Target, frames: list[tuple[str, Any]]) -> None:
    before = len(target.log.text())
    raw, _ = await raw_connected(target.server)
    try:
        outcome = None
        for kind, data in frames:
            if kind == "binary":
                raw.send_binary(data)
            else:
                raw.send(data)
            outcome = effect(kind, data)
            if outcome is not None:
                break  # the socket is closed, or no longer connected to the namespace
        if outcome == "binary":
            texts = await raw.texts_until_closed()
            errors = [json.loads(t[2:])[1] for t in texts if t.startswith('42["error"')]
            assert errors and errors[-1]["code"] == 4300, texts
        elif outcome == "closed":
            await raw.texts_until_closed()
        elif outcome is None:
            raw.send('4299999["subscribe",{"channel":"fuzz-probe"}]')
            answer = json.loads((await raw.recv_until("4399999["))[7:])
            assert answer[0] == {"channel": "fuzz-probe"} or answer[0]["error"]["code"] == 4300
    finally:
        raw.close()
    await target.still_serving()
    target.check_log(before, len(frames))


def polling_effect(kind: str, data: Any) -> str | None:
    """``effect`` over long-polling, where python-engineio refuses (400, the session ends)
    the packet types a client has no business sending in a POST: OPEN, PING and NOOP."""
    if data and data[0] in "026":
        return "closed"
    return effect(kind, data)


polling_packets = sio_text_packets.filter(lambda t: "\x1e" not in t and not t.startswith("d=")).map(
    lambda t: ("text", t)
)


@settings(FUZZ, max_examples=25)
@given(frames=st.lists(polling_packets, min_size=1, max_size=4))
@example(frames=[("text", '42["subscribe"]'), ("text", "0")])  # a client's OPEN: 400
async def test_fuzzed_socketio_packets_over_long_polling(
    target: Target, frames: list[tuple[str, Any]]
) -> None:
    """The same packets, as one long-polling POST (packets separated by 0x1e)."""
    before = len(target.log.text())
    url = f"{target.server.url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        opened = json.loads((await (await http.get(url)).text())[1:])
        session = f"{url}&sid={opened['sid']}"
        async with http.post(session, data=b"40" + json.dumps({"key": APP_KEY}).encode()):
            pass
        async with http.get(session) as resp:
            assert "connection_established" in await resp.text()
        outcomes = [polling_effect(kind, data) for kind, data in frames]
        async with http.post(session, data="\x1e".join(data for _, data in frames)) as resp:
            status = resp.status
        if "closed" in outcomes:
            assert status in (200, 400)  # 400: the body is not Engine.IO at all
        else:
            assert status == 200
        if not any(outcomes):
            async with http.post(session, data=b'4299999["subscribe",{"channel":"fuzz-probe"}]'):
                pass
            for _ in range(10):
                async with http.get(session) as resp:
                    assert resp.status == 200
                    if "4399999" in await resp.text():
                        break
            else:
                raise AssertionError("no answer to the probe")
        # Leave, as a client does.
        async with http.post(session, data=b"1"):
            pass
    await target.still_serving()
    target.check_log(before, len(frames))
