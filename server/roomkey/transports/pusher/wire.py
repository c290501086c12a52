"""Pusher's JSON wire format (protocol 7): inbound frames parsed, outbound frames encoded.

Pure: no aiohttp here. Every frame is one JSON object ``{"event", "channel"?, "data"?}``.
What the server sends follows what pusher-js decodes: channel events and the
``pusher_internal:*`` events carry ``data`` as a JSON *string*; ``pusher:error`` and
``pusher:subscription_error`` carry an object, as Pusher and pusher-compatible servers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roomkey.core.errors import BadRequest, RoomkeyError
from roomkey.core.protocol import (
    CacheMiss,
    ChannelEvent,
    MemberAdded,
    MemberRemoved,
    Outbound,
    Relayed,
    SubscriptionCount,
    WatchlistEvent,
    data_as_text,
    dumps,
    loads,
)

SUPPORTED_PROTOCOLS = range(5, 8)
# The key of each form in ``Outbound.encoded``: the text, and its WebSocket frame.
TEXT_KEY = "pusher"
FRAME_KEY = "pusher-frame"


@dataclass(frozen=True, slots=True)
class Frame:
    """One inbound frame: the event name, its channel (client events) and its data."""

    event: str
    channel: str | None
    data: Any


def parse_frame(text: str) -> Frame:
    """A frame from a text message; ``BadRequest`` naming what is wrong otherwise (invalid
    JSON, JSON nested deeper than ``protocol.MAX_JSON_DEPTH``, wrong types)."""
    obj = loads(text, "frame")
    if not isinstance(obj, dict):
        raise BadRequest("frame must be a JSON object")
    event = obj.get("event")
    if not isinstance(event, str) or not event:
        raise BadRequest("frame has no event name")
    channel = obj.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise BadRequest("channel must be a string")
    data = obj.get("data")
    if isinstance(data, str) and event.startswith("pusher:"):
        # Some clients send the data of pusher:* events JSON-encoded, as the server does.
        data = loads(data, f"data of {event}")
    return Frame(event, channel, data)


def subscribe_payload(data: Any) -> dict[str, Any]:
    """The subscribe payload with pusher-js's empty ``auth`` (public channels) treated as
    absent, so that identity-based joins work as on the Socket.IO transport."""
    if not isinstance(data, dict):
        raise BadRequest("pusher:subscribe data must be an object")
    payload = dict(data)
    if payload.get("auth") == "":
        payload.pop("auth")
    return payload


def frame(event: str, data: Any = None, channel: str | None = None) -> str:
    out: dict[str, Any] = {"event": event}
    if channel is not None:
        out["channel"] = channel
    if data is not None:
        out["data"] = data
    return dumps(out)


def connection_established(socket_id: str, activity_timeout: int) -> str:
    return frame(
        "pusher:connection_established",
        dumps({"socket_id": socket_id, "activity_timeout": activity_timeout}),
    )


def error_frame(code: int | None, message: str) -> str:
    return frame("pusher:error", {"code": code, "message": message})


def _subscription_error_type(exc: RoomkeyError) -> str:
    if exc.code == 4009:
        return "AuthError"
    if exc.code == 4100:
        return "LimitReached"
    return "BadRequest"


def subscription_errors(channel: str, exc: RoomkeyError) -> tuple[str, str]:
    """A refused subscription, told twice: ``pusher:subscription_error`` on the channel (what
    pusher-js and Laravel Echo hand to the channel's error callbacks) and ``pusher:error``
    with ``code``/``message`` (what Pusher itself sends)."""
    detail = {
        "type": _subscription_error_type(exc),
        "error": exc.message,
        "status": exc.status,
        "code": exc.code,
        "message": exc.message,
    }
    return (
        frame("pusher:subscription_error", detail, channel),
        frame("pusher:error", {"code": exc.code, "message": exc.message}, channel),
    )


def subscription_succeeded(channel: str, ack: dict[str, Any]) -> str:
    presence = ack.get("presence")
    data = dumps({"presence": presence}) if presence is not None else "{}"
    return frame("pusher_internal:subscription_succeeded", data, channel)


def encode_outbound(message: Outbound) -> str:
    """The Pusher form of a delivery, built once per message and cached on it."""
    cached = message.encoded.get(TEXT_KEY)
    if cached is not None:
        return str(cached)
    if isinstance(message, Relayed):
        text = message.pusher  # built by the publishing node: sent as it is
    elif isinstance(message, ChannelEvent):
        out: dict[str, Any] = {
            "event": message.event,
            "channel": message.channel,
            "data": data_as_text(message.data),
        }
        if message.user_id is not None:
            out["user_id"] = message.user_id
        text = dumps(out)
    elif isinstance(message, MemberAdded):
        text = frame(
            "pusher_internal:member_added",
            dumps({"user_id": message.user_id, "user_info": message.user_info}),
            message.channel,
        )
    elif isinstance(message, MemberRemoved):
        text = frame(
            "pusher_internal:member_removed",
            dumps({"user_id": message.user_id}),
            message.channel,
        )
    elif isinstance(message, SubscriptionCount):
        text = frame(
            "pusher_internal:subscription_count",
            dumps({"subscription_count": message.count}),
            message.channel,
        )
    elif isinstance(message, CacheMiss):
        text = frame("pusher:cache_miss", channel=message.channel)
    elif isinstance(message, WatchlistEvent):
        # On no channel: pusher-js's watchlist hears it on the connection, whatever the channel.
        events = [{"name": message.name, "user_ids": message.user_ids}]
        text = frame("pusher_internal:watchlist_events", dumps({"events": events}))
    else:
        raise TypeError(f"cannot encode {message!r}")
    message.encoded[TEXT_KEY] = text
    return text


def protocol_problem(value: str | None) -> tuple[int, str] | None:
    """``(code, message)`` when the ``protocol`` query parameter is unacceptable (4008
    missing, 4007 unsupported, as Pusher), None when it is 5, 6 or 7."""
    if value is None or value == "":
        return 4008, "no protocol version supplied (use protocol=7)"
    try:
        version = int(value)
    except ValueError:
        return 4007, "unsupported protocol version (use protocol=7)"
    if version not in SUPPORTED_PROTOCOLS:
        return 4007, f"unsupported protocol version {version} (5 to 7 are supported)"
    return None
