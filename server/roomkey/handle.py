"""``Roomkey``: the handle ``roomkey.setup`` returns, an embedding application's way into the
roomkey it runs (docs/embedding.md).

Publishing and reading work on the memory and the Redis backends alike, with the REST API's
validation and limits (``hub/publishing.py``): a refused call publishes nothing and raises a
``roomkey.RoomkeyError`` (``BadRequest``, ``LimitExceeded``, ``PayloadTooLarge``,
``UnknownApp``; ``ServiceUnavailable`` when the broker or Redis cannot be reached, or when the
application is not running). Hooks (``on``, ``hook``) may be registered at any time; the
other methods need the application to be running (between its start-up and its cleanup).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from roomkey.config import AppSettings, Settings
from roomkey.core.channels import server_to_user_channel
from roomkey.core.errors import BadRequest, ServiceUnavailable, Unauthorized, UnknownApp
from roomkey.core.members import Member
from roomkey.core.protocol import dumps
from roomkey.hooks import Hook, HookKind, Hooks
from roomkey.hub import publishing
from roomkey.hub.publishing import ChannelInfo
from roomkey.identity.base import SessionStore
from roomkey.identity.login import log_in, log_out
from roomkey.runtime import Runtime

AppRef = str | None
"""An app id or key; None: the only configured app."""


@dataclass(frozen=True, slots=True)
class BatchEvent:
    """One event of ``Roomkey.publish_batch``: ``event`` with ``data`` on one ``channel``,
    skipping the socket ``exclude_socket_id``."""

    channel: str
    event: str
    data: Any
    exclude_socket_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClientPaths:
    """Where clients reach this roomkey, the prefix included (``""`` for none):
    ``socketio``: Socket.IO's ``path`` option (``"/realtime/socket.io"``); ``pusher``:
    pusher-js's ``wsPath`` (``"/realtime"``; the socket is ``{pusher}/app/{key}``);
    ``auth`` and ``user_auth``: the authorize endpoints (pusher-js's
    ``channelAuthorization.endpoint`` and ``userAuthentication.endpoint``)."""

    socketio: str
    pusher: str
    auth: str
    user_auth: str


def _data_text(data: Any) -> str:
    """Event data as sent on the wire: a string as is, anything else JSON-encoded."""
    if isinstance(data, str):
        return data
    try:
        return dumps(data)
    except (TypeError, ValueError):
        raise BadRequest("data must be a string or JSON-serializable") from None


class Roomkey:
    """The roomkey mounted in one aiohttp application (``roomkey.setup`` returns it; request
    handlers find it with ``Roomkey.of(request)``).

    Each method's ``app`` names the app (its id or its key); None means the only configured
    app (``BadRequest`` when several are configured)."""

    def __init__(self, settings: Settings, *, prefix: str = "") -> None:
        """Made by ``setup``; an application never builds one itself."""
        self.settings = settings
        self.prefix = prefix
        self._hooks = Hooks(settings.hooks)
        server = settings.server
        self.paths = ClientPaths(
            socketio=f"{prefix}/socket.io",
            pusher=prefix,
            auth=prefix + server.auth_path,
            user_auth=prefix + server.user_auth_path,
        )
        self._runtime: Runtime | None = None

    # -- finding it ----------------------------------------------------------------------

    @classmethod
    def of(cls, where: web.Application | web.Request) -> Roomkey:
        """The handle ``setup`` stored on an application, given the application or a request
        it (or one of its sub-applications) handles. ``LookupError`` when roomkey was not
        set up there."""
        if isinstance(where, web.Application):
            found = where.get(HANDLE)
        elif isinstance(where, web.Request):
            found = where.config_dict.get(HANDLE)
        else:
            raise TypeError("Roomkey.of needs a web.Application or a web.Request")
        if found is None:
            raise LookupError("roomkey.setup() was not called on this application")
        return found

    @property
    def running(self) -> bool:
        """True between the application's start-up and its cleanup."""
        return self._runtime is not None

    def _bind(self, runtime: Runtime | None) -> None:
        self._runtime = runtime

    def _rt(self) -> Runtime:
        rt = self._runtime
        if rt is None:
            raise ServiceUnavailable(
                "roomkey is not running: call this while the application runs"
                " (after its start-up, before its cleanup)"
            )
        return rt

    def _app(self, rt: Runtime, app: AppRef) -> AppSettings:
        if app is None:
            if len(self.settings.apps) > 1:
                raise BadRequest("several apps are configured: name one with app=<id or key>")
            return rt.apps.by_id(rt.apps.default.id)
        if not isinstance(app, str):
            raise BadRequest("app must be an app id or key")
        try:
            return rt.apps.by_id(app)
        except UnknownApp:
            return rt.apps.by_key(app)

    # -- publishing ----------------------------------------------------------------------

    async def publish(
        self,
        channels: str | Sequence[str],
        event: str,
        data: Any,
        *,
        exclude_socket_id: str | None = None,
        app: AppRef = None,
    ) -> None:
        """Publish ``event`` on one channel or several (at most the app's
        ``max_channels_per_trigger``), on every node. ``data``: a string is sent as is,
        anything else JSON-encoded (at most ``max_event_data_bytes`` once encoded).
        ``exclude_socket_id``: that socket does not receive it (the sender of a change the
        page already shows). A ``private-encrypted-`` channel must be the only channel."""
        rt = self._rt()
        target = self._app(rt, app)
        body: dict[str, Any] = {"name": event, "data": _data_text(data)}
        if isinstance(channels, str):
            body["channel"] = channels
        else:
            body["channels"] = list(channels)
        if exclude_socket_id is not None:
            body["socket_id"] = exclude_socket_id
        req = publishing.parse_event(target, body)
        await rt.hub.publish(target, req.channels, req.name, req.data, req.exclude)

    async def publish_batch(self, events: Sequence[BatchEvent], *, app: AppRef = None) -> None:
        """Publish several events (at most the app's ``max_batch_events``), each on one
        channel, in order. Every event is checked before any is published."""
        rt = self._rt()
        target = self._app(rt, app)
        batch: list[dict[str, Any]] = []
        for item in events:
            if not isinstance(item, BatchEvent):
                raise BadRequest("publish_batch takes BatchEvent values")
            entry: dict[str, Any] = {
                "name": item.event,
                "channel": item.channel,
                "data": _data_text(item.data),
            }
            if item.exclude_socket_id is not None:
                entry["socket_id"] = item.exclude_socket_id
            batch.append(entry)
        for req in publishing.parse_batch(target, {"batch": batch}):
            await rt.hub.publish(target, req.channels, req.name, req.data, req.exclude)

    async def send_to_user(
        self, user_id: str, event: str, data: Any, *, app: AppRef = None
    ) -> None:
        """Send ``event`` to every connection signed in as ``user_id`` (Pusher's user
        sign-in: the user's ``#server-to-user-`` channel), on every node."""
        rt = self._rt()
        target = self._app(rt, app)
        if not isinstance(user_id, str) or not user_id:
            raise BadRequest("user_id must be a non-empty string")
        if len(user_id) > target.limits.max_user_id_chars:
            raise BadRequest(f"user_id is longer than {target.limits.max_user_id_chars} characters")
        await self.publish(server_to_user_channel(user_id), event, data, app=target.id)

    async def terminate_user(self, user_id: str, *, app: AppRef = None) -> None:
        """Close every connection that carries ``user_id``'s identity (a token or session
        cookie at the handshake, or a sign-in), on every node; clients receive 4009."""
        rt = self._rt()
        await publishing.terminate_connections(rt.hub, self._app(rt, app), user_id)

    # -- reading -------------------------------------------------------------------------

    async def channels(self, *, prefix: str = "", app: AppRef = None) -> dict[str, ChannelInfo]:
        """The occupied channels whose names start with ``prefix``, by name (cluster-wide,
        as the REST API lists them)."""
        rt = self._rt()
        return await publishing.channel_infos(rt.hub, self._app(rt, app), prefix)

    async def channel(self, name: str, *, app: AppRef = None) -> ChannelInfo:
        """One channel's state (cluster-wide); an unoccupied channel is
        ``ChannelInfo(occupied=False, subscription_count=0)``."""
        rt = self._rt()
        return await publishing.channel_info(rt.hub, self._app(rt, app), name)

    async def members(self, channel: str, *, app: AppRef = None) -> list[Member]:
        """The members of a presence channel (cluster-wide), one per user;
        ``BadRequest`` for any other kind of channel."""
        rt = self._rt()
        return await publishing.members(rt.hub, self._app(rt, app), channel)

    # -- hooks ---------------------------------------------------------------------------

    def on(self, kind: HookKind, callback: Hook) -> None:
        """Call ``await callback(event)`` for every ``HookEvent`` of ``kind``, off the
        delivery path (docs/embedding.md#hooks: what is cluster-wide, when leaves fire,
        what it may cost).
        ``ValueError`` for an unknown kind."""
        self._hooks.on(kind, callback)

    def hook(self, kind: HookKind) -> Callable[[Hook], Hook]:
        """``on`` as a decorator: ``@handle.hook("member_added")`` over an ``async def``."""

        def register(callback: Hook) -> Hook:
            self._hooks.on(kind, callback)
            return callback

        return register

    # -- login ---------------------------------------------------------------------------

    def _sessions(self, rt: Runtime) -> SessionStore:
        if rt.sessions is None:
            s = rt.settings.session
            if not s.enabled:
                raise BadRequest("sessions are disabled (session.enabled = false)")
            # The cookie storages and express-session belong to the application's own login,
            # which sets their cookie; roomkey only reads them (docs/identity.md).
            raise BadRequest(
                f'login and logout need roomkey\'s own session store (session kind "memory" or '
                f'"aiohttp_redis"); with kind "{s.resolved_kind}" the application logs users in'
            )
        return rt.sessions

    async def login(
        self,
        response: web.StreamResponse,
        user_id: str,
        user_info: Mapping[str, Any] | None = None,
        *,
        app: AppRef = None,
        secure: bool = False,
    ) -> None:
        """Log ``user_id`` in: save a session in roomkey's session store (``[session]``,
        memory or Redis) and set the session cookie on ``response`` (not yet prepared). The
        browser's cookie then identifies the user to the authorize endpoint and the socket
        handshake. ``user_info``: stored with the session; the keys ``session.user_info_keys``
        names become the identity's ``user_info`` (presence ``channel_data``).
        ``secure``: mark the cookie ``Secure`` (pass ``request.secure`` behind HTTPS).
        ``app``: when given, checked to exist (``UnknownApp``); a session is shared by every
        app of this roomkey, so None is fine with several apps."""
        rt = self._rt()
        if app is not None:
            self._app(rt, app)
        await log_in(
            self._sessions(rt), rt.settings.session, response, user_id, user_info, secure=secure
        )

    async def logout(self, request: web.BaseRequest, response: web.StreamResponse) -> None:
        """Log out whoever ``request``'s session cookie names: delete the session and clear
        the cookie on ``response``. Sockets identified by it stop being authorized within
        ``session.recheck_seconds``. Without a cookie, only the cookie is cleared."""
        rt = self._rt()
        await log_out(self._sessions(rt), rt.settings.session, request, response)

    async def session_user(self, request: web.BaseRequest) -> str | None:
        """The user id of the session ``request``'s cookie names (as ``login`` saved it);
        None without a cookie, for an unknown, ended or expired session, or when sessions
        are disabled. ``ServiceUnavailable`` when a Redis session store cannot be reached."""
        rt = self._rt()
        name = rt.session_cookie_name
        cookie = request.cookies.get(name) if name is not None else None
        if not cookie:
            return None
        try:
            identity = await rt.identity.from_cookie(cookie, True)
        except Unauthorized:
            return None
        return identity.user_id if identity is not None else None


# Where ``setup`` keeps the handle on the application.
HANDLE = web.AppKey("roomkey.handle", Roomkey)
