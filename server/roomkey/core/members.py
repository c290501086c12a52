"""Presence members and signed-in users (``Member``): who a client is, held to the app's limits.

Pure: channel authorization (``hub/authorization.py``) calls these after the signature over
``channel_data`` or ``user_data`` has been verified, and calls ``identity_member`` to build the
``channel_data`` the authorize endpoint signs. Every function raises a ``RoomkeyError``
(``BadRequest``, ``LimitExceeded``, ``PayloadTooLarge``) instead of returning a member the app's
limits do not allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roomkey.config import AppSettings
from roomkey.core.errors import BadRequest, LimitExceeded, PayloadTooLarge
from roomkey.core.protocol import dumps, loads
from roomkey.identity.base import Identity, scalar_user_id


@dataclass(frozen=True, slots=True)
class Member:
    """A presence member or a signed-in user: the user id and the info other members see
    (any JSON value; None when the client sent none)."""

    user_id: str
    user_info: Any = None


def presence_payload(members: dict[str, Any]) -> dict[str, Any]:
    """Pusher's presence data: ``{"ids", "hash", "count"}``."""
    return {"ids": list(members), "hash": members, "count": len(members)}


def member_from_channel_data(channel_data: str, app: AppSettings) -> Member:
    """The member a presence ``channel_data`` string describes
    (``{"user_id", "user_info"}``)."""
    return _member_from_json(channel_data, "channel_data", "user_id", app)


def member_from_user_data(user_data: str, app: AppSettings) -> Member:
    """The user a sign-in ``user_data`` string describes (``{"id", "user_info"}``)."""
    return _member_from_json(user_data, "user_data", "id", app)


def checked_member(user_id: str, user_info: Any, app: AppSettings) -> Member:
    """A member within the app's ``user_id`` and ``user_info`` limits."""
    limits = app.limits
    if len(user_id) > limits.max_user_id_chars:
        raise LimitExceeded(f"user_id is longer than {limits.max_user_id_chars} characters")
    if user_info is not None and len(dumps(user_info).encode()) > limits.max_user_info_bytes:
        raise PayloadTooLarge(f"user_info is larger than {limits.max_user_info_bytes} bytes")
    return Member(user_id, user_info)


def identity_member(identity: Identity, app: AppSettings) -> Member:
    """The presence member of an identity established by the server (token or session)."""
    return checked_member(identity.user_id, dict(identity.user_info), app)


def _member_from_json(text: str, field: str, id_key: str, app: AppSettings) -> Member:
    data = loads(text, field)
    if not isinstance(data, dict):
        raise BadRequest(f"{field} must be a JSON object")
    user_id = scalar_user_id(data.get(id_key))
    if user_id is None:
        raise BadRequest(f"{field}.{id_key} must be a non-empty string or an integer")
    return checked_member(user_id, data.get("user_info"), app)
