"""Pusher's HTTP API, after the signature check: parse the request, call the hub, answer.

Knows nothing of aiohttp: the edge (``http/rest.py``) verifies the signature
(``core/signing.py``), decodes the JSON body and calls these functions, which return the JSON
object to answer with or raise a ``RoomkeyError`` (400 bad input, 413 data too large,
503 the broker cannot take a publish). Everything is validated before anything is published:
a refused request publishes nothing.

Response shapes are Pusher's:
- events: ``{}``, or ``{"channels": {name: {"user_count"?, "subscription_count"?}}}`` when
  ``info`` is asked for;
- batch_events: ``{}``, or ``{"batch": [{...attributes...}, ...]}`` when any event asks;
- channels: ``{"channels": {name: {"user_count"?, "subscription_count"?}}}`` (occupied only);
- channel: ``{"occupied", "user_count"?, "subscription_count"?}``;
- users: ``{"users": [{"id"}, ...]}`` (presence channels only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roomkey.config import AppSettings
from roomkey.core.channels import (
    ChannelKind,
    channel_kind,
    validate_channel_name,
    validate_published_event_name,
    validate_socket_id,
)
from roomkey.core.errors import BadRequest, LimitExceeded, PayloadTooLarge
from roomkey.core.members import Member
from roomkey.hub.hub import Hub

USER_COUNT = "user_count"
SUBSCRIPTION_COUNT = "subscription_count"
INFO_ATTRIBUTES = (USER_COUNT, SUBSCRIPTION_COUNT)


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """One event to publish: ``data`` exactly as sent, on one or more channels."""

    name: str
    data: str
    channels: tuple[str, ...]
    exclude: str | None
    info: tuple[str, ...]


def parse_info(value: object) -> tuple[str, ...]:
    """A comma-separated list of channel attributes (``user_count``, ``subscription_count``)."""
    if value is None or value == "":
        return ()
    if not isinstance(value, str):
        raise BadRequest("info must be a comma-separated string")
    attrs = tuple(dict.fromkeys(a.strip() for a in value.split(",") if a.strip()))
    unknown = [a for a in attrs if a not in INFO_ATTRIBUTES]
    if unknown:
        raise BadRequest(f"info may only name {', '.join(INFO_ATTRIBUTES)}")
    return attrs


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadRequest(f"{what} must be a JSON object")
    return value


def _channels(app: AppSettings, obj: Mapping[str, Any], *, single_only: bool) -> tuple[str, ...]:
    has_one, has_many = "channel" in obj, "channels" in obj
    if single_only and has_many:
        raise BadRequest("a batch event names one channel (channel), not channels")
    if has_one and has_many:
        raise BadRequest("send channel or channels, not both")
    if has_many:
        raw = obj["channels"]
        if not isinstance(raw, list):
            raise BadRequest("channels must be a list of channel names")
        names = tuple(dict.fromkeys(validate_channel_name(c, "channels") for c in raw))
    elif has_one:
        names = (validate_channel_name(obj["channel"]),)
    else:
        raise BadRequest("channel or channels is required")
    limit = app.limits.max_channels_per_trigger
    if not names:
        raise BadRequest("channels must name at least one channel")
    if limit and len(names) > limit:
        raise LimitExceeded(f"an event may be published to at most {limit} channels")
    if len(names) > 1 and any(channel_kind(n) is ChannelKind.ENCRYPTED for n in names):
        # As Pusher: the data of an encrypted channel is encrypted with that channel's own
        # key, so the same data cannot be meant for any other channel.
        raise BadRequest(
            "an event to a private-encrypted- channel must name that channel alone"
            " (send one request per encrypted channel)"
        )
    return names


def parse_event(app: AppSettings, value: object, *, batch: bool = False) -> PublishRequest:
    """One event of ``POST /events`` (``channel`` or ``channels``) or of a batch
    (``channel`` only). ``data`` must be a string of at most the app's event data limit.
    A ``private-encrypted-`` channel must be the event's only channel (``BadRequest``)."""
    obj = _object(value, "a batch event" if batch else "the request body")
    name = validate_published_event_name(obj.get("name"), "name")
    channels = _channels(app, obj, single_only=batch)
    data = obj.get("data")
    if not isinstance(data, str):
        raise BadRequest("data must be a string (JSON-encode objects before sending)")
    limit = app.limits.max_event_data_bytes
    if len(data.encode()) > limit:
        raise PayloadTooLarge(f"data is larger than {limit} bytes")
    socket_id = obj.get("socket_id")
    exclude = None if socket_id is None else validate_socket_id(socket_id)
    return PublishRequest(name, data, channels, exclude, parse_info(obj.get("info")))


def parse_batch(app: AppSettings, value: object) -> list[PublishRequest]:
    """``{"batch": [event, ...]}`` with 1 to the app's batch limit of events."""
    obj = _object(value, "the request body")
    raw = obj.get("batch")
    if not isinstance(raw, list):
        raise BadRequest("batch must be a list of events")
    limit = app.limits.max_batch_events
    if not raw:
        raise BadRequest("batch must contain at least one event")
    if limit and len(raw) > limit:
        raise LimitExceeded(f"a batch may contain at most {limit} events")
    return [parse_event(app, event, batch=True) for event in raw]


async def _attributes(
    hub: Hub, app: AppSettings, channel: str, info: tuple[str, ...]
) -> dict[str, int]:
    out: dict[str, int] = {}
    if USER_COUNT in info and channel_kind(channel) is ChannelKind.PRESENCE:
        out[USER_COUNT] = len(await hub.presence.members(app.id, channel))
    if SUBSCRIPTION_COUNT in info:
        out[SUBSCRIPTION_COUNT] = await hub.presence.subscriber_count(app.id, channel)
    return out


async def _publish(hub: Hub, app: AppSettings, req: PublishRequest) -> None:
    await hub.publish(app, req.channels, req.name, req.data, req.exclude)


async def trigger(hub: Hub, app: AppSettings, body: object) -> dict[str, Any]:
    """``POST /apps/{id}/events``."""
    req = parse_event(app, body)
    await _publish(hub, app, req)
    if not req.info:
        return {}
    return {"channels": {ch: await _attributes(hub, app, ch, req.info) for ch in req.channels}}


async def trigger_batch(hub: Hub, app: AppSettings, body: object) -> dict[str, Any]:
    """``POST /apps/{id}/batch_events``: every event is checked before any is published."""
    events = parse_batch(app, body)
    for req in events:
        await _publish(hub, app, req)
    if not any(req.info for req in events):
        return {}
    return {"batch": [await _attributes(hub, app, req.channels[0], req.info) for req in events]}


async def channels(hub: Hub, app: AppSettings, prefix: str, info: str | None) -> dict[str, Any]:
    """``GET /apps/{id}/channels``: the occupied channels whose names start with ``prefix``
    (``#server-to-user-`` channels only when the prefix starts with ``#``). ``user_count`` may
    only be asked for when the prefix is ``presence-``, as Pusher."""
    attrs = parse_info(info)
    if USER_COUNT in attrs and not prefix.startswith("presence-"):
        raise BadRequest("info=user_count needs filter_by_prefix=presence-")
    occupied = await hub.presence.channels(app.id, prefix)
    listed = sorted(
        name
        for name in occupied
        # Signed-in users' own channels are internal (no webhooks either), unless asked for.
        if prefix.startswith("#") or channel_kind(name) is not ChannelKind.SERVER_TO_USER
    )
    return {"channels": {name: await _attributes(hub, app, name, attrs) for name in listed}}


async def channel(hub: Hub, app: AppSettings, name: object, info: str | None) -> dict[str, Any]:
    """``GET /apps/{id}/channels/{name}``: ``occupied`` and the attributes asked for;
    ``user_count`` only for presence channels (400 otherwise, as Pusher)."""
    channel_name = validate_channel_name(name, "channel_name")
    attrs = parse_info(info)
    if USER_COUNT in attrs and channel_kind(channel_name) is not ChannelKind.PRESENCE:
        raise BadRequest("user_count is only available for presence channels")
    count = await hub.presence.subscriber_count(app.id, channel_name)
    out: dict[str, Any] = {"occupied": count > 0}
    out.update(await _attributes(hub, app, channel_name, attrs))
    return out


async def users(hub: Hub, app: AppSettings, name: object) -> dict[str, Any]:
    """``GET /apps/{id}/channels/{name}/users``: the presence channel's user ids."""
    channel_name = validate_channel_name(name, "channel_name")
    if channel_kind(channel_name) is not ChannelKind.PRESENCE:
        raise BadRequest("users are only available for presence channels")
    members = await hub.presence.members(app.id, channel_name)
    return {"users": [{"id": user_id} for user_id in members]}


async def terminate_connections(hub: Hub, app: AppSettings, user_id: object) -> dict[str, Any]:
    """``POST /apps/{id}/users/{user_id}/terminate_connections``: close every connection of
    the signed-in user, on every node (they receive 4009)."""
    if not isinstance(user_id, str) or not user_id:
        raise BadRequest("user_id must not be empty")
    if len(user_id) > app.limits.max_user_id_chars:
        raise BadRequest(f"user_id is longer than {app.limits.max_user_id_chars} characters")
    await hub.terminate_user(app, user_id)
    return {}


# -- typed reads (the embedding API, ``roomkey.Roomkey``) -----------------------------------


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What is known about one channel, cluster-wide: ``occupied`` (at least one
    subscriber), ``subscription_count`` (subscribed connections) and, for ``presence-``
    channels only, ``user_count`` (distinct members; None for other channels)."""

    occupied: bool
    subscription_count: int
    user_count: int | None = None


async def _info(hub: Hub, app: AppSettings, name: str, count: int) -> ChannelInfo:
    users = None
    if channel_kind(name) is ChannelKind.PRESENCE:
        users = len(await hub.presence.members(app.id, name)) if count else 0
    return ChannelInfo(count > 0, count, users)


async def channel_infos(hub: Hub, app: AppSettings, prefix: str) -> dict[str, ChannelInfo]:
    """The occupied channels whose names start with ``prefix``, sorted by name, as
    ``channels`` lists them (``#server-to-user-`` channels only for a prefix starting with
    ``#``)."""
    if not isinstance(prefix, str):
        raise BadRequest("prefix must be a string")
    occupied = await hub.presence.channels(app.id, prefix)
    out: dict[str, ChannelInfo] = {}
    for name in sorted(occupied):
        if prefix.startswith("#") or channel_kind(name) is not ChannelKind.SERVER_TO_USER:
            out[name] = await _info(hub, app, name, occupied[name])
    return out


async def channel_info(hub: Hub, app: AppSettings, name: object) -> ChannelInfo:
    """One channel, occupied or not (``BadRequest`` for a malformed name)."""
    channel_name = validate_channel_name(name, "channel")
    count = await hub.presence.subscriber_count(app.id, channel_name)
    return await _info(hub, app, channel_name, count)


async def members(hub: Hub, app: AppSettings, name: object) -> list[Member]:
    """The members of a presence channel (``BadRequest`` for any other channel), in the
    presence store's order."""
    channel_name = validate_channel_name(name, "channel")
    if channel_kind(channel_name) is not ChannelKind.PRESENCE:
        raise BadRequest("members are only available for presence channels")
    found = await hub.presence.members(app.id, channel_name)
    return [Member(user_id, info) for user_id, info in found.items()]
