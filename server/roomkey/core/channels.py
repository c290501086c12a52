"""Channel kinds, the grammar of channel names, socket ids and event names, and new socket ids.

Validators take an untrusted value (any type), return it typed, or raise ``BadRequest`` with a
message that names the field. Nothing that has not passed here reaches a Redis key, a log line
or a room name.
"""

from __future__ import annotations

import enum
import re
import secrets

from roomkey.core.errors import BadRequest

CHANNEL_NAME_MAX = 164
EVENT_NAME_MAX = 200

_CHANNEL_RE = re.compile(r"[A-Za-z0-9_\-=@,.;]+")
_SERVER_TO_USER_PREFIX = "#server-to-user-"
# ASCII digits only: ``\d`` would also match every other script's digits (``١٢٣.٤٥٦``).
_SOCKET_ID_RE = re.compile(r"[0-9]{1,20}\.[0-9]{1,20}")

# Pusher's cache channels: one per kind, each behaving as its kind plus the cached last event.
CACHE_PREFIXES = ("cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-")

RESERVED_EVENT_PREFIXES = ("pusher:", "pusher_internal:")
CLIENT_EVENT_PREFIX = "client-"


class ChannelKind(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    PRESENCE = "presence"
    ENCRYPTED = "encrypted"
    SERVER_TO_USER = "server_to_user"

    @property
    def needs_auth(self) -> bool:
        """Private, presence and encrypted channels need a signature (or an identity)."""
        return self in _NEEDS_AUTH


_NEEDS_AUTH = frozenset({ChannelKind.PRIVATE, ChannelKind.PRESENCE, ChannelKind.ENCRYPTED})


def channel_kind(name: str) -> ChannelKind:
    """The kind of an already validated channel name, by prefix (longest prefix first)."""
    if name.startswith("private-encrypted-"):
        return ChannelKind.ENCRYPTED
    if name.startswith("private-"):
        return ChannelKind.PRIVATE
    if name.startswith("presence-"):
        return ChannelKind.PRESENCE
    if name.startswith(_SERVER_TO_USER_PREFIX):
        return ChannelKind.SERVER_TO_USER
    return ChannelKind.PUBLIC


def is_cache_channel(name: str) -> bool:
    """Whether ``name`` is a cache channel (``cache-``, ``private-cache-``,
    ``private-encrypted-cache-``, ``presence-cache-``): it keeps the last event published on
    it for new subscribers, and otherwise behaves as the kind ``channel_kind`` gives."""
    return name.startswith(CACHE_PREFIXES)


def counts_subscriptions(name: str) -> bool:
    """Whether subscribers of ``name`` may hear its subscription count (apps with
    ``subscription_count``): every channel but presence channels (whose members are their
    count) and a signed-in user's own ``#server-to-user-`` channel."""
    return channel_kind(name) not in (ChannelKind.PRESENCE, ChannelKind.SERVER_TO_USER)


def validate_channel_name(value: object, field: str = "channel") -> str:
    """A channel name: 1-164 characters of ``[A-Za-z0-9_-=@,.;]``.

    ``#server-to-user-{user_id}`` is also accepted: the ``#`` prefix is Pusher's own and is
    followed by a user id of the same charset.
    """
    value = _bounded_string(value, field, CHANNEL_NAME_MAX)
    body = (
        value[len(_SERVER_TO_USER_PREFIX) :] if value.startswith(_SERVER_TO_USER_PREFIX) else value
    )
    if not body or _CHANNEL_RE.fullmatch(body) is None:
        raise BadRequest(f"{field} may only contain A-Z a-z 0-9 _ - = @ , . ;")
    return value


def server_to_user_channel(user_id: str) -> str:
    return f"{_SERVER_TO_USER_PREFIX}{user_id}"


def server_to_user_id(channel: str) -> str | None:
    """The user id of a ``#server-to-user-`` channel, or None for any other channel."""
    if channel.startswith(_SERVER_TO_USER_PREFIX):
        return channel[len(_SERVER_TO_USER_PREFIX) :]
    return None


def validate_socket_id(value: object, field: str = "socket_id") -> str:
    """A socket id as Pusher's SDKs accept it: ``^[0-9]+\\.[0-9]+$`` (ASCII digits, at most 20
    on each side)."""
    if not isinstance(value, str) or _SOCKET_ID_RE.fullmatch(value) is None:
        raise BadRequest(f"{field} must look like 1234.5678")
    return value


def validate_event_name(value: object, field: str = "event") -> str:
    """An event name of 1-200 characters. Reserved prefixes are checked by the caller."""
    return _bounded_string(value, field, EVENT_NAME_MAX)


def _bounded_string(value: object, field: str, max_chars: int) -> str:
    """``value`` if it is a string of 1 to ``max_chars`` characters; ``BadRequest`` naming
    ``field`` otherwise."""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string")
    if not value:
        raise BadRequest(f"{field} must not be empty")
    if len(value) > max_chars:
        raise BadRequest(f"{field} is longer than {max_chars} characters")
    return value


def validate_published_event_name(value: object, field: str = "name") -> str:
    """An event name an app server may publish: not ``pusher:`` / ``pusher_internal:``."""
    name = validate_event_name(value, field)
    if name.startswith(RESERVED_EVENT_PREFIXES):
        raise BadRequest(f"{field} uses a reserved prefix (pusher: or pusher_internal:)")
    return name


def new_socket_id() -> str:
    """A fresh socket id: two random integers from ``secrets``, unique across a cluster in
    practice (about 2^60 combinations)."""
    return f"{secrets.randbelow(10**15)}.{secrets.randbelow(10**15)}"
