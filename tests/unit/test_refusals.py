"""One refusal, told to each kind of client (``roomkey.refusals``): the shapes the wire
contract names (docs/protocol.md, docs/pusher-clients.md), from one ``RoomkeyError``."""

from __future__ import annotations

import json

from roomkey.core.errors import Forbidden, RateLimited, SlowConsumer
from roomkey.refusals import (
    INTERNAL_ERROR,
    MAX_REASON_BYTES,
    NOT_CONNECTED,
    close_reason,
    connect_error,
    error_answer,
    error_response,
    pusher_error,
    slow_consumer,
)


def test_over_http_a_refusal_is_its_status_and_code_as_json_never_stored() -> None:
    response = error_response(
        Forbidden("origin is not allowed", reason="origin"), {"Vary": "Origin"}
    )
    assert response.status == 403
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Vary"] == "Origin"
    assert "Retry-After" not in response.headers
    assert isinstance(response.body, bytes)
    assert json.loads(response.body) == {
        "error": {"code": 4009, "message": "origin is not allowed"}
    }


def test_a_rate_limit_says_when_to_retry_in_whole_seconds_at_least_one() -> None:
    for retry_after, header in ((0.2, "1"), (1.4, "1"), (2.6, "3"), (30.0, "30")):
        response = error_response(RateLimited("slow down", retry_after=retry_after))
        assert response.status == 429
        assert response.headers["Retry-After"] == header


def test_a_socketio_acknowledgement_carries_the_same_error() -> None:
    exc = Forbidden("no", reason="policy")
    assert error_answer(exc) == {"error": {"code": 4009, "message": "no"}}
    assert error_answer(NOT_CONNECTED) == {"error": {"code": 4300, "message": "not connected"}}
    assert error_answer(INTERNAL_ERROR) == {"error": {"code": 4300, "message": "internal error"}}


def test_a_refused_socketio_handshake_carries_code_message_and_reason_twice() -> None:
    refused = connect_error(Forbidden("origin is not allowed", reason="origin"))
    detail = {"code": 4009, "message": "origin is not allowed", "reason": "origin"}
    assert refused.error_args == {**detail, "data": detail}


def test_a_pusher_client_gets_pusher_error_and_a_close_reason_that_fits_a_frame() -> None:
    exc = Forbidden("origin is not allowed", reason="origin")
    assert json.loads(pusher_error(exc)) == {
        "event": "pusher:error",
        "data": {"code": 4009, "message": "origin is not allowed"},
    }
    assert close_reason("short") == b"short"
    long = "é" * 100  # 200 bytes of UTF-8
    assert close_reason(long) == long.encode()[:MAX_REASON_BYTES]
    assert len(close_reason(long)) == MAX_REASON_BYTES <= 123  # 125 less the code's 2


def test_a_slow_consumer_is_told_the_limit_it_went_over() -> None:
    exc = slow_consumer(65536)
    assert isinstance(exc, SlowConsumer)
    assert exc.code == 4100
    assert exc.message == (
        "outbound buffer over limits.max_outbound_buffer_bytes (65536): the client is not reading"
    )
