"""The names of roomkey's Redis keys and pub/sub channels: the one place that builds them.

Every name is ``{prefix}:{kind}`` followed by what the kind needs (``p`` is ``redis.prefix``,
``{a}`` the app id as a Redis hash tag, ``{a:c}`` the app id and a channel as one, ``c`` a
channel, ``n`` a node id):

- ``p:subs:{a}:c``            set: socket ids subscribed to ``c`` (its size is the count)
- ``p:channels:{a}``          hash: channel -> subscriber count (the occupied channels)
- ``p:pres-sockets:{a}:c``    hash: socket id -> user id
- ``p:pres-users:{a}:c``      hash: user id -> user_info (JSON)
- ``p:pres-conns:{a}:c``      hash: user id -> that user's connections on ``c``
- ``p:nodes``                 sorted set: node id -> last heartbeat (Redis time, ms)
- ``p:node-apps:n``           set: the apps in which node ``n`` holds entries
- ``p:node-entries:{a}:n``    set: the entries node ``n`` holds in app ``a`` (what a sweep
                              removes)
- ``p:node-conns:n``          hash: app id -> open connections on ``n`` (expires)
- ``p:rate:LIMIT:{a}[:s]``    string: hits in one rate-limit window of subject ``s`` (expires)
- ``p:cache:{a}:c``           string: the last event published on cache channel ``c`` (expires)
- ``p:cache-miss:{a}:c``      string: a cache miss of ``c`` was reported (de-duplication; expires)
- ``p:webhook-due:{a}``       sorted set: webhook event id -> when it is due, or when its
                              claim expires (Redis time, ms)
- ``p:webhook-events:{a}``    hash: webhook event id -> the event (JSON, with its hold key)
- ``p:webhook-held:{a}``      hash: hold key (a user on a channel, or a channel) -> the id of
                              the leave held in its delay window
- ``p:webhook-owners:{a}``    hash: webhook event id -> the node that claimed it
- ``p:webhook-seq:{a}``       string: the app's last webhook event id
- ``p:hook-due:{a}``, ``p:hook-events:{a}``, ``p:hook-held:{a}``, ``p:hook-owners:{a}``,
  ``p:hook-seq:{a}``          the same five for the channel and member events on their way
                              to the in-process hooks (``hook_relay.py``)
- ``p:events:{a:c}``          pub/sub: events published on ``c``
- ``p:control``               pub/sub: cluster-wide commands (terminate a user, ...)
- ``p:ping:n``                pub/sub: node ``n``'s listener pinging itself
- ``p:shard-ping:{i}:n``      sharded pub/sub (Redis Cluster): node ``n`` pinging its
                              connection to one shard (``i`` picks a slot of that shard)

Slots (Redis Cluster). Every key a script or a call touches together carries the same hash
tag, so each lands in one slot: the app's tag ``{a}`` for channel state, presence, a node's
entries in the app and rate limits (one script may touch a channel's keys, the app's channel
list and the node's entries of the app). A channel's pub/sub name carries its own tag
``{a:c}``, so that sharded pub/sub spreads the channels of one app over every shard. A new
name goes through ``slot_tag``: ``slot_tag(app_id)`` for app state,
``slot_tag(app_id, channel)`` for what belongs to one channel only. Names without a tag
(``nodes``, ``node-apps``, ``node-conns``, ``control``) are only ever used one at a time.

Why no two things share a name, whatever the app id, channel or subject holds:

- the prefix is a safe name (``SAFE_NAME``: no ``:``, braces, glob characters, whitespace or
  control characters), so it ends at the first ``:``;
- the kind comes next, from the fixed set above, before anything an app or a client chose;
- the app id follows inside ``{...}`` (the form of a Redis Cluster hash tag). A safe app id
  is written as it is; any other is percent-encoded, so the segment never holds ``}`` or
  ``:`` and ends at the first ``}`` (or at the ``:`` before a channel inside the tag, which
  is written likewise: channel-name characters as they are, anything else encoded);
- the channel, node id or subject comes last and runs to the end of the name, so it needs
  no delimiter and may hold anything (``:`` included).

Session keys are not here: they are aiohttp-session's ``{cookie_name}_{session id}``, shared
with the host application (``identity/session.py``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote

# App ids, app keys and redis.prefix: ASCII letters and digits, '.', '_' and '-', starting
# with a letter or a digit. Free of what roomkey uses as a separator (':' in key names and
# signatures, braces around hash tags, '/' in URL paths), of glob characters (ACL patterns,
# SCAN) and of whitespace and control characters (log lines, headers).
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SAFE_CHAR = re.compile(r"[A-Za-z0-9._-]")
# The queues a webhook store keeps in Redis: the webhooks', and the in-process hooks'.
EVENT_QUEUES = ("webhook", "hook")
# Channel names (core/channels.py) and what may stand for one inside a hash tag as it is.
_TAG_CHANNEL = re.compile(r"[A-Za-z0-9_\-=@,.;]+")


def name_problem(value: str, max_length: int) -> str | None:
    """Why ``value`` is not a safe name of at most ``max_length`` characters (a config error
    message such as ``must not contain ':'``), or None when it is one."""
    if not value:
        return "must be a non-empty string"
    for char in value:
        if _SAFE_CHAR.fullmatch(char) is None:
            return f"must not contain {char!r}"
    if SAFE_NAME.fullmatch(value) is None:
        return "must start with a letter or a digit"
    if len(value) > max_length:
        return f"must be at most {max_length} characters"
    return None


@lru_cache(maxsize=1024)
def app_tag(app_id: str) -> str:
    """``{app_id}``: the app's hash tag, percent-encoded unless the id is a safe name. An
    empty id is written ``{%}`` (Redis Cluster ignores an empty ``{}``, and encoding never
    yields a lone ``%``)."""
    if not app_id:
        return "{%}"
    if SAFE_NAME.fullmatch(app_id) is None:
        app_id = quote(app_id, safe="")
    return "{" + app_id + "}"


@lru_cache(maxsize=4096)
def slot_tag(app_id: str, channel: str | None = None) -> str:
    """The hash tag that decides a name's Redis Cluster slot: ``{app_id}`` for what belongs to
    the app (every key one script touches must carry the same tag), ``{app_id:channel}`` for
    what belongs to one channel alone (its pub/sub name). Percent-encoded where the id or the
    channel holds anything else than safe characters, so the tag never holds ``}``."""
    if channel is None:
        return app_tag(app_id)
    if _TAG_CHANNEL.fullmatch(channel) is None:
        channel = quote(channel, safe="")
    return app_tag(app_id)[:-1] + ":" + channel + "}"


class RedisKeys:
    """The names under one ``redis.prefix``. Raises ``ValueError`` for a prefix that is not a
    safe name (the config reader refuses it first, with its path)."""

    def __init__(self, prefix: str) -> None:
        if SAFE_NAME.fullmatch(prefix) is None:
            raise ValueError(f"redis prefix {prefix!r}: {name_problem(prefix, len(prefix))}")
        self.prefix = prefix
        self.nodes = f"{prefix}:nodes"
        self.control = f"{prefix}:control".encode()

    # -- channel state (presence/redis.py) ---------------------------------------------

    def subscribers(self, app_id: str, channel: str) -> str:
        return f"{self.prefix}:subs:{app_tag(app_id)}:{channel}"

    def channels(self, app_id: str) -> str:
        return f"{self.prefix}:channels:{app_tag(app_id)}"

    def presence(self, app_id: str, channel: str) -> list[str]:
        """The sockets, users and connection-count hashes of a presence channel, in the
        order the presence scripts take them."""
        tail = f"{app_tag(app_id)}:{channel}"
        p = self.prefix
        return [f"{p}:pres-sockets:{tail}", f"{p}:pres-users:{tail}", f"{p}:pres-conns:{tail}"]

    def node_apps(self, node_id: str) -> str:
        return f"{self.prefix}:node-apps:{node_id}"

    def node_entries(self, app_id: str, node_id: str) -> str:
        return f"{self.prefix}:node-entries:{slot_tag(app_id)}:{node_id}"

    def node_connections(self, node_id: str) -> str:
        return f"{self.prefix}:node-conns:{node_id}"

    # -- rate limits (ratelimit/redis.py) ----------------------------------------------

    def rate(self, window: str) -> str:
        """The counter of one rate-limit window, named by ``rate_window``."""
        return f"{self.prefix}:rate:{window}"

    # -- cache channels (cache/redis.py) -----------------------------------------------

    def cache(self, app_id: str, channel: str) -> str:
        """The last event of cache channel ``channel`` (JSON, with its time to live)."""
        return f"{self.prefix}:cache:{app_tag(app_id)}:{channel}"

    def cache_miss(self, app_id: str, channel: str) -> str:
        """Set while a cache miss of ``channel`` was reported and not yet followed by a put."""
        return f"{self.prefix}:cache-miss:{app_tag(app_id)}:{channel}"

    # -- webhooks (webhooks/redis.py) -------------------------------------------------

    def webhooks(self, app_id: str, queue: str = "webhook") -> list[str]:
        """An app's webhook queue: the due, events, held, owners and seq keys, in the order
        the webhook scripts take them (one hash tag: one Redis Cluster slot). ``queue``:
        ``"webhook"``, or ``"hook"`` for the events on their way to the in-process hooks."""
        if queue not in EVENT_QUEUES:
            raise ValueError(f"unknown event queue {queue!r}")
        tag = app_tag(app_id)
        p = self.prefix
        return [f"{p}:{queue}-{kind}:{tag}" for kind in ("due", "events", "held", "owners", "seq")]

    # -- pub/sub (broker/redis.py) -----------------------------------------------------

    def events(self, app_id: str, channel: str) -> bytes:
        return f"{self.prefix}:events:{slot_tag(app_id, channel)}".encode()

    def ping(self, node_id: str) -> bytes:
        return f"{self.prefix}:ping:{node_id}".encode()

    def shard_ping(self, node_id: str, index: int) -> bytes:
        """Candidate ``index`` of node ``node_id``'s ping to one shard: the caller tries
        indexes until one falls in a slot of that shard."""
        return f"{self.prefix}:shard-ping:{{{index}}}:{node_id}".encode()


def rate_window(limit: str, app_id: str, subject: str | None = None) -> str:
    """The name of one rate-limit window: ``limit`` (a fixed word such as ``auth-user``), the
    app's hash tag, then the subject (a user id or an address, anything) to the end."""
    tag = app_tag(app_id)
    return f"{limit}:{tag}" if subject is None else f"{limit}:{tag}:{subject}"
