"""Channel authorization in one place: may this connection or this request join this
channel, and as which member.

Two ways in, one set of rules (the app's channel policy, the app's limits on members):

- the authorize endpoints (``http/authorize.py`` parses and formats): the policy decides for
  the request's identity and the answer is signed here (``authorize_channel``,
  ``authorize_user``). Presence ``channel_data`` is built from the identity; nothing the client
  says about its own identity is used;
- a socket's subscribe (``subscription_member``): a signature over the socket id and the
  channel (what an authorize endpoint signed), or else the connection's handshake identity,
  while it still holds, and the same policy; a sign-in (``signin_member``): the signature
  over ``user_data``.

Public channels need nothing; a ``#server-to-user-`` channel is its signed-in user's alone.
Refusals are ``RoomkeyError``s (``Forbidden``: the policy says no or the channel is another
user's; ``Unauthorized``: a bad signature, no identity, or one that no longer holds;
``BadRequest``, ``LimitExceeded``, ``PayloadTooLarge``: see ``core/members.py``) and change
nothing. The only outside calls are the identity resolver (a session may be read again) and an
application's asynchronous policy.
"""

from __future__ import annotations

from typing import Any

from roomkey.config import AppSettings
from roomkey.core.channels import ChannelKind, channel_kind, server_to_user_id
from roomkey.core.errors import BadRequest, Forbidden, Unauthorized
from roomkey.core.members import (
    Member,
    identity_member,
    member_from_channel_data,
    member_from_user_data,
)
from roomkey.core.policy import AsyncPolicy, ChannelPolicy, SyncPolicy, allowed
from roomkey.core.protocol import SigninRequest, SubscribeRequest, dumps
from roomkey.core.signing import (
    channel_string,
    shared_secret,
    sign_channel,
    sign_user,
    user_string,
    verify_auth,
)
from roomkey.core.watchlist import checked_watchlist
from roomkey.hub.connection import Connection
from roomkey.identity.base import Identity
from roomkey.identity.resolver import IdentityResolver

# -- sockets -------------------------------------------------------------------------------


async def subscription_member(
    conn: Connection, req: SubscribeRequest, policy: ChannelPolicy, identities: IdentityResolver
) -> Member | None:
    """Whether ``conn`` may join ``req.channel``: the presence member it joins as (None for
    the other kinds), or a refusal. With ``req.auth``, the signature over the socket id, the
    channel and (presence) ``req.channel_data`` decides, and the member is the one
    ``channel_data`` describes; without, the connection's handshake identity (confirmed by
    ``identities``, see ``handshake_identity``) and ``policy`` decide, and the member is the
    identity's."""
    app, channel = conn.app, req.channel
    kind = channel_kind(channel)
    if kind is ChannelKind.PUBLIC:
        return None
    if kind is ChannelKind.SERVER_TO_USER:
        if conn.user is not None and conn.user.user_id == server_to_user_id(channel):
            return None
        raise Forbidden("#server-to-user- channels are only for the signed-in user")
    if req.auth is not None:
        if kind is ChannelKind.PRESENCE:
            if req.channel_data is None:
                raise BadRequest("channel_data is required for presence channels")
            signed = channel_string(conn.socket_id, channel, req.channel_data)
        else:
            signed = channel_string(conn.socket_id, channel)
        if not verify_auth(app.key, app.secret, signed, req.auth):
            raise Unauthorized(f"invalid signature for this connection and {channel}")
        if kind is ChannelKind.PRESENCE:
            assert req.channel_data is not None
            return member_from_channel_data(req.channel_data, app)
        return None
    identity = await handshake_identity(conn, channel, identities)
    if not await allowed(policy, app, identity, channel):
        raise Forbidden(f"not allowed to join {channel}")
    return identity_member(identity, app) if kind is ChannelKind.PRESENCE else None


async def handshake_identity(
    conn: Connection, channel: str, identities: IdentityResolver
) -> Identity:
    """The connection's handshake identity, if it still holds: its token has not
    expired, and its session (read again once the last read is older than
    ``session.recheck_seconds``) still names the same user. ``Unauthorized`` otherwise.
    A session read again replaces the connection's identity (same user, fresh claims)."""
    identity = conn.identity
    if identity is None:
        raise Unauthorized(f"auth is required to join {channel}")
    fresh = await identities.confirm(identity, conn.identity_checked)
    if fresh is None:
        return identity
    if conn.identity is identity:  # not replaced while the session was read
        conn.identity, conn.identity_checked = fresh, identities.now()
    return fresh


def signin_member(conn: Connection, req: SigninRequest) -> Member:
    """The user ``conn`` signs in as (Pusher's user sign-in): ``req.auth`` must be the
    signature over ``socket_id::user::user_data``; the user is ``user_data``'s ``id`` and
    ``user_info``, held to the app's limits."""
    app = conn.app
    if not verify_auth(app.key, app.secret, user_string(conn.socket_id, req.user_data), req.auth):
        raise Unauthorized("invalid sign-in signature for this connection")
    return member_from_user_data(req.user_data, app)


# -- the authorize endpoints ---------------------------------------------------------------


def authorize_channel(
    app: AppSettings, policy: SyncPolicy, identity: Identity, socket_id: str, channel: str
) -> dict[str, str]:
    """``{"auth"}``; presence adds ``channel_data``; encrypted adds ``shared_secret``.
    ``Forbidden`` when the policy says no; ``BadRequest`` for channels that take no
    authorization (the policy is not asked then). Nothing is awaited: the common case (the
    configured rules) signs in the caller's own step."""
    kind = _needing_authorization(channel)
    return _signed(app, kind, policy.allows(app, identity, channel), identity, socket_id, channel)


async def authorize_channel_async(
    app: AppSettings, policy: AsyncPolicy, identity: Identity, socket_id: str, channel: str
) -> dict[str, str]:
    """``authorize_channel`` for a policy that may wait (an application's async function)."""
    kind = _needing_authorization(channel)
    decision = await policy.allows(app, identity, channel)
    return _signed(app, kind, decision, identity, socket_id, channel)


def _needing_authorization(channel: str) -> ChannelKind:
    kind = channel_kind(channel)
    if not kind.needs_auth:
        raise BadRequest(
            f"{channel} needs no authorization (only private-, presence- and "
            "private-encrypted- channels do)"
        )
    return kind


def _signed(
    app: AppSettings,
    kind: ChannelKind,
    allowed: bool,
    identity: Identity,
    socket_id: str,
    channel: str,
) -> dict[str, str]:
    if not allowed:
        raise Forbidden(f"not allowed to join {channel}")
    if kind is ChannelKind.PRESENCE:
        channel_data = _channel_data(identity, app)
        return {
            "auth": sign_channel(app.key, app.secret, socket_id, channel, channel_data),
            "channel_data": channel_data,
        }
    body = {"auth": sign_channel(app.key, app.secret, socket_id, channel)}
    if kind is ChannelKind.ENCRYPTED:
        if app.encryption_master_key is None:
            raise BadRequest("encrypted channels need apps.encryption_master_key in the config")
        body["shared_secret"] = shared_secret(app.encryption_master_key, channel)
    return body


def authorize_user(app: AppSettings, identity: Identity, socket_id: str) -> dict[str, str]:
    """User sign-in: ``{"auth", "user_data"}`` with ``user_data`` = ``{"id", "user_info"}``."""
    user_data = _user_data(identity, app)
    return {"auth": sign_user(app.key, app.secret, socket_id, user_data), "user_data": user_data}


def _channel_data(identity: Identity, app: AppSettings) -> str:
    """Presence ``channel_data`` of an identity in an app, built (and held to the app's
    limits) once per identity."""
    key = f"channel_data:{app.id}"
    text = identity.memo.get(key)
    if text is None:
        member = identity_member(identity, app)
        text = dumps({"user_id": member.user_id, "user_info": member.user_info})
        identity.memo[key] = text
    return text


def _user_data(identity: Identity, app: AppSettings) -> str:
    """Sign-in ``user_data`` of an identity in an app, built once per identity:
    ``{"id", "user_info"}``, plus ``watchlist`` when the identity carries a ``watchlist``
    claim (JWT claim or session value: an array of user ids, held to the app's limits)."""
    key = f"user_data:{app.id}"
    text = identity.memo.get(key)
    if text is None:
        member = identity_member(identity, app)
        data: dict[str, Any] = {"id": member.user_id, "user_info": member.user_info}
        watchlist = checked_watchlist(identity.claims.get("watchlist"), app)
        if watchlist:
            data["watchlist"] = list(watchlist)
        text = dumps(data)
        identity.memo[key] = text
    return text
