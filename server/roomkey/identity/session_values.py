"""What a session says about its user, whatever stored it: the user id and user info at
configured keys or dotted paths (``passport.user``), made into an ``Identity``. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from roomkey.core.errors import Unauthorized
from roomkey.identity.base import Identity, scalar_user_id

MAX_PATH_DEPTH = 16


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in ``data``: the key ``path`` itself when ``data`` has it (so a
    key with a dot in it keeps working), else the walk of its dotted parts through nested
    objects. None when any part is missing or a step is not an object."""
    if path in data:
        return data[path]
    value: Any = data
    for part in path.split(".")[:MAX_PATH_DEPTH]:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def info_name(path: str) -> str:
    """The ``user_info`` key of a configured path: its last part (``profile.name`` -> ``name``)."""
    return path.rsplit(".", 1)[-1]


def session_identity(
    data: Mapping[str, Any],
    user_id_key: str,
    user_info_keys: tuple[str, ...],
    credential: str,
) -> Identity:
    """The identity a session's values name: ``Unauthorized`` (reason ``unknown_session``,
    "session is not logged in") when no scalar user id is at ``user_id_key``. ``credential``
    is what re-reads the session later (``IdentityResolver.confirm``): the session id or the
    cookie, kept out of every repr."""
    user_id = scalar_user_id(lookup(data, user_id_key))
    if user_id is None:
        raise Unauthorized("session is not logged in", reason="unknown_session")
    info: dict[str, Any] = {}
    for path in user_info_keys:
        value = lookup(data, path)
        if value is not None:
            info[info_name(path)] = value
    return Identity(
        user_id=user_id,
        user_info=info,
        claims=dict(data),
        source="session",
        session_id=credential,
    )
