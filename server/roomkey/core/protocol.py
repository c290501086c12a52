"""Typed messages: inbound requests parsed from untrusted payloads, outbound deliveries.

Inbound parsers take whatever a transport decoded (any JSON value) and return a typed request
or raise ``BadRequest`` naming the field. Outbound messages are transport-neutral; each carries
a small cache so that a transport encodes a message once, whatever the number of recipients,
and has a JSON-safe wire form (``outbound_to_wire``/``outbound_from_wire``) for the broker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from roomkey.core.channels import validate_channel_name, validate_event_name
from roomkey.core.errors import BadRequest

JSON_SEPARATORS = (",", ":")

# How deep client JSON may nest (arrays and objects). Far below the interpreter's recursion
# limit, so that a value that was parsed can also be encoded again anywhere (fan-out, the
# broker, webhooks) without a RecursionError; far above what any Pusher or Socket.IO
# message needs.
MAX_JSON_DEPTH = 64
TOO_DEEP_MESSAGE = f"JSON nests deeper than {MAX_JSON_DEPTH} levels"

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}

# One encoder, built once: ``json.dumps`` with any option builds a new JSONEncoder per call.
_encode = json.JSONEncoder(separators=JSON_SEPARATORS, ensure_ascii=False).encode


def dumps(value: object) -> str:
    """Compact JSON, non-ASCII kept as is (what every wire form and signature uses)."""
    return _encode(value)


def dumps_strings(fields: Mapping[str, str]) -> str:
    """``dumps`` of a flat object of strings (an authorize answer), the same bytes: each
    string goes through the encoder's string fast path, no encoder state built."""
    return "{" + ",".join([f"{_encode(k)}:{_encode(v)}" for k, v in fields.items()]) + "}"


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text ``text`` opens more than ``limit`` arrays or objects inside one
    another (brackets inside strings do not count). Cheap when it cannot be: a text with at
    most ``limit`` opening brackets is answered by two ``str.count``; otherwise by one
    linear pass with no Python-level loop (about 3 ms for 64 KB of brackets). For invalid
    JSON the answer is a guess: the parser refuses that text anyway."""
    if text.count("[") + text.count("{") <= limit:
        return False
    skeleton = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text) if '"' in text else text)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, skeleton)), default=0) > limit


def loads(text: str, what: str = "message") -> Any:
    """JSON from a client: the value, or ``BadRequest`` when ``text`` is not valid JSON or
    nests deeper than ``MAX_JSON_DEPTH`` (never a ``RecursionError``). ``what`` names the
    input in the message."""
    if json_too_deep(text):
        raise BadRequest(f"{what}: {TOO_DEEP_MESSAGE}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest(f"{what} is not valid JSON") from None


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    channel: str
    auth: str | None = None
    channel_data: str | None = None


@dataclass(frozen=True, slots=True)
class UnsubscribeRequest:
    channel: str


@dataclass(frozen=True, slots=True)
class TriggerRequest:
    channel: str
    event: str
    data: Any


@dataclass(frozen=True, slots=True)
class SigninRequest:
    auth: str
    user_data: str


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    token: str = field(repr=False)  # a bearer token: never in a repr or a log line


def _object(payload: object, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise BadRequest(f"{what} payload must be an object")
    return payload


def _optional_str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def parse_subscribe(payload: object) -> SubscribeRequest:
    obj = _object(payload, "subscribe")
    return SubscribeRequest(
        channel=validate_channel_name(obj.get("channel")),
        auth=_optional_str(obj, "auth"),
        channel_data=_optional_str(obj, "channel_data"),
    )


def parse_unsubscribe(payload: object) -> UnsubscribeRequest:
    obj = _object(payload, "unsubscribe")
    return UnsubscribeRequest(channel=validate_channel_name(obj.get("channel")))


def parse_trigger(payload: object) -> TriggerRequest:
    obj = _object(payload, "trigger")
    if "data" not in obj:
        raise BadRequest("data is required")
    return TriggerRequest(
        channel=validate_channel_name(obj.get("channel")),
        event=validate_event_name(obj.get("event")),
        data=obj["data"],
    )


def parse_signin(payload: object) -> SigninRequest:
    obj = _object(payload, "signin")
    auth = _optional_str(obj, "auth")
    user_data = _optional_str(obj, "user_data")
    if not auth:
        raise BadRequest("auth is required")
    if not user_data:
        raise BadRequest("user_data is required")
    return SigninRequest(auth=auth, user_data=user_data)


def parse_refresh(payload: object) -> RefreshRequest:
    obj = _object(payload, "refresh")
    token = _optional_str(obj, "token")
    if not token:
        raise BadRequest("token is required (a JWT, as auth.token at the handshake)")
    return RefreshRequest(token=token)


@dataclass(slots=True, eq=False)
class Outbound:
    """A delivery to subscribers. ``encoded`` caches each transport's wire form."""

    channel: str
    encoded: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, kw_only=True)


@dataclass(slots=True, eq=False)
class ChannelEvent(Outbound):
    """An event on a channel. ``data`` is exactly what was published (a string stays a
    string). ``user_id`` is set for client events on presence channels."""

    event: str
    data: Any
    user_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"channel": self.channel, "event": self.event, "data": self.data}
        if self.user_id is not None:
            out["user_id"] = self.user_id
        return out


@dataclass(slots=True, eq=False)
class MemberAdded(Outbound):
    user_id: str
    user_info: Any


@dataclass(slots=True, eq=False)
class MemberRemoved(Outbound):
    user_id: str


@dataclass(slots=True, eq=False)
class CacheMiss(Outbound):
    """A cache channel was subscribed with nothing cached (to that subscriber only)."""


@dataclass(slots=True, eq=False)
class SubscriptionCount(Outbound):
    """The channel's cluster-wide subscription count, to its subscribers (apps with
    ``subscription_count``)."""

    count: int


@dataclass(slots=True, eq=False)
class WatchlistEvent(Outbound):
    """Users on a signed-in user's watchlist came online or went offline: ``name`` is
    ``"online"`` or ``"offline"``. Sent to the watcher's connections, on no channel
    (``channel`` is empty)."""

    name: str
    user_ids: list[str]


@dataclass(slots=True, eq=False)
class Relayed(Outbound):
    """A delivery heard from another node with its wire forms built there
    (``performance.relay_frames``): ``socketio``, the Socket.IO packet's text (an EVENT
    packet, ``2["event",...]``), and ``pusher``, the Pusher frame's text. Each transport sends
    its form as it is, so that this node neither decodes the message nor encodes it again."""

    socketio: str
    pusher: str


def data_as_text(data: Any) -> str:
    """Pusher's wire carries event data as a string: strings as they are, anything else as
    compact JSON."""
    return data if isinstance(data, str) else dumps(data)


def outbound_to_wire(message: Outbound) -> dict[str, Any]:
    """A JSON-safe form of an outbound message, for the cross-node broker."""
    if isinstance(message, ChannelEvent):
        return {"t": "e", **message.as_dict()}
    if isinstance(message, MemberAdded):
        return {
            "t": "a",
            "channel": message.channel,
            "user_id": message.user_id,
            "user_info": message.user_info,
        }
    if isinstance(message, MemberRemoved):
        return {"t": "r", "channel": message.channel, "user_id": message.user_id}
    if isinstance(message, SubscriptionCount):
        return {"t": "s", "channel": message.channel, "count": message.count}
    raise TypeError(f"not an outbound message: {message!r}")


def outbound_from_wire(obj: object) -> Outbound:
    """The inverse of ``outbound_to_wire``; ``ValueError`` for anything malformed."""
    if not isinstance(obj, dict):
        raise ValueError("message is not an object")
    kind, channel = obj.get("t"), obj.get("channel")
    if not isinstance(channel, str):
        raise ValueError("channel missing")
    if kind == "s":
        count = obj.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError("bad count")
        return SubscriptionCount(channel, count)
    user_id = obj.get("user_id")
    if kind == "e":
        event = obj.get("event")
        if not isinstance(event, str) or "data" not in obj:
            raise ValueError("event missing")
        if user_id is not None and not isinstance(user_id, str):
            raise ValueError("bad user_id")
        return ChannelEvent(channel, event, obj["data"], user_id)
    if not isinstance(user_id, str):
        raise ValueError("user_id missing")
    if kind == "a":
        return MemberAdded(channel, user_id, obj.get("user_info"))
    if kind == "r":
        return MemberRemoved(channel, user_id)
    raise ValueError("unknown message kind")
