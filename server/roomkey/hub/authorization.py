"""What the authorize endpoints answer, given an app, an identity, a socket id and a channel.

Pure: the HTTP edge parses the request and formats the result; this decides and signs.
Presence ``channel_data`` is built here from the identity; nothing the client says about its
own identity is used.
"""

from __future__ import annotations

from roomkey.core.apps import App
from roomkey.core.channels import ChannelKind, channel_kind
from roomkey.core.errors import BadRequest, Forbidden
from roomkey.core.members import identity_member
from roomkey.core.policy import AsyncPolicy, SyncPolicy
from roomkey.core.protocol import dumps
from roomkey.core.signing import shared_secret, sign_channel, sign_user
from roomkey.identity.base import Identity


def authorize_channel(
    app: App, policy: SyncPolicy, identity: Identity, socket_id: str, channel: str
) -> dict[str, str]:
    """``{"auth"}``; presence adds ``channel_data``; encrypted adds ``shared_secret``.
    ``Forbidden`` when the policy says no; ``BadRequest`` for channels that take no
    authorization (the policy is not asked then). Nothing is awaited: the common case (the
    configured rules) signs in the caller's own step."""
    kind = _needing_authorization(channel)
    return _signed(app, kind, policy.allows(app, identity, channel), identity, socket_id, channel)


async def authorize_channel_async(
    app: App, policy: AsyncPolicy, identity: Identity, socket_id: str, channel: str
) -> dict[str, str]:
    """``authorize_channel`` for a policy that may wait (an application's async function)."""
    kind = _needing_authorization(channel)
    allowed = await policy.allows(app, identity, channel)
    return _signed(app, kind, allowed, identity, socket_id, channel)


def _needing_authorization(channel: str) -> ChannelKind:
    kind = channel_kind(channel)
    if not kind.needs_auth:
        raise BadRequest(
            f"{channel} needs no authorization (only private-, presence- and "
            "private-encrypted- channels do)"
        )
    return kind


def _signed(
    app: App, kind: ChannelKind, allowed: bool, identity: Identity, socket_id: str, channel: str
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


def authorize_user(app: App, identity: Identity, socket_id: str) -> dict[str, str]:
    """User sign-in: ``{"auth", "user_data"}`` with ``user_data`` = ``{"id", "user_info"}``."""
    user_data = _user_data(identity, app)
    return {"auth": sign_user(app.key, app.secret, socket_id, user_data), "user_data": user_data}


def _channel_data(identity: Identity, app: App) -> str:
    """Presence ``channel_data`` of an identity in an app, built (and held to the app's
    limits) once per identity."""
    key = f"channel_data:{app.id}"
    text = identity.memo.get(key)
    if text is None:
        member = identity_member(identity, app)
        text = dumps({"user_id": member.user_id, "user_info": member.user_info})
        identity.memo[key] = text
    return text


def _user_data(identity: Identity, app: App) -> str:
    """Sign-in ``user_data`` of an identity in an app, built once per identity."""
    key = f"user_data:{app.id}"
    text = identity.memo.get(key)
    if text is None:
        member = identity_member(identity, app)
        text = dumps({"id": member.user_id, "user_info": member.user_info})
        identity.memo[key] = text
    return text
