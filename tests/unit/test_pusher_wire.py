"""The pure parts of the Pusher transport: frame parsing, outbound encoding, settings."""

from __future__ import annotations

import json

import pytest

from roomkey.config import ConfigError, parse_settings
from roomkey.core.errors import BadRequest
from roomkey.core.protocol import ChannelEvent, MemberAdded, MemberRemoved
from roomkey.transports.pusher.wire import (
    encode_outbound,
    parse_frame,
    protocol_problem,
    subscribe_payload,
)


def test_outbound_is_encoded_once_and_cached() -> None:
    message = ChannelEvent("private-a", "ev", {"k": "v"}, user_id="7")
    text = encode_outbound(message)
    assert message.encoded["pusher"] is text
    assert encode_outbound(message) is text
    assert json.loads(text) == {
        "event": "ev",
        "channel": "private-a",
        "data": '{"k":"v"}',
        "user_id": "7",
    }


def test_string_data_goes_out_as_published() -> None:
    text = encode_outbound(ChannelEvent("c", "ev", '{"already":"json"}'))
    assert json.loads(text)["data"] == '{"already":"json"}'


def test_member_events_carry_json_strings() -> None:
    added = json.loads(encode_outbound(MemberAdded("presence-r", "1", {"name": "A"})))
    assert added == {
        "event": "pusher_internal:member_added",
        "channel": "presence-r",
        "data": '{"user_id":"1","user_info":{"name":"A"}}',
    }
    removed = json.loads(encode_outbound(MemberRemoved("presence-r", "1")))
    assert json.loads(removed["data"]) == {"user_id": "1"}


def test_parse_frame() -> None:
    frame = parse_frame('{"event":"client-x","channel":"private-a","data":{"n":1}}')
    assert (frame.event, frame.channel, frame.data) == ("client-x", "private-a", {"n": 1})
    # pusher:* data sent JSON-encoded is accepted too; client event data stays as sent.
    assert parse_frame('{"event":"pusher:subscribe","data":"{\\"channel\\":\\"a\\"}"}').data == {
        "channel": "a"
    }
    assert parse_frame('{"event":"client-x","channel":"c","data":"{}"}').data == "{}"
    for bad in ("", "nope", "[]", '{"data":1}', '{"event":""}', '{"event":"x","channel":5}'):
        with pytest.raises(BadRequest):
            parse_frame(bad)


def test_subscribe_payload_drops_empty_auth() -> None:
    assert subscribe_payload({"channel": "a", "auth": ""}) == {"channel": "a"}
    assert subscribe_payload({"channel": "a", "auth": "k:s"}) == {"channel": "a", "auth": "k:s"}
    with pytest.raises(BadRequest):
        subscribe_payload("a")


def test_protocol_versions() -> None:
    assert protocol_problem("7") is None
    assert protocol_problem("5") is None
    assert protocol_problem(None) == (4008, "no protocol version supplied (use protocol=7)")
    assert protocol_problem("8")[0] == 4007  # type: ignore[index]
    assert protocol_problem("x")[0] == 4007  # type: ignore[index]


def test_pong_timeout_setting() -> None:
    app = {"id": "1", "key": "k", "secret": "wire-secret-0123456789"}
    settings = parse_settings({"server": {"pusher_pong_timeout_seconds": 2.5}, "apps": [app]})
    assert settings.server.pusher_pong_timeout_seconds == 2.5
    assert parse_settings({"apps": [app]}).server.pusher_pong_timeout_seconds == 30.0
    with pytest.raises(ConfigError) as caught:
        parse_settings({"server": {"pusher_pong_timeout_seconds": 0}, "apps": [app]})
    assert any("server.pusher_pong_timeout_seconds" in e for e in caught.value.errors)
