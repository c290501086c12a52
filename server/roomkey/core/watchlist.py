"""Pusher's watchlist: the user ids a signed-in user's ``user_data`` asks to hear about.

Pure. ``watchlist_of`` reads ``user_data["watchlist"]`` (an array of user ids, each a
non-empty string or an integer, as a ``user_data.id``), held to the app's
``limits.max_watchlist_users`` (Pusher's limit: 100) and ``max_user_id_chars``. A watchlist
that breaks a rule refuses the whole sign-in with an error naming the rule; nothing is cut
short silently.
"""

from __future__ import annotations

from typing import Any

from roomkey.config import AppSettings
from roomkey.core.errors import BadRequest, LimitExceeded
from roomkey.core.protocol import loads
from roomkey.identity.base import scalar_user_id


def watchlist_of(user_data: str, app: AppSettings) -> tuple[str, ...]:
    """The watchlist a sign-in ``user_data`` string carries (empty when it has none), in
    order, without repeats."""
    data = loads(user_data, "user_data")
    if not isinstance(data, dict):
        raise BadRequest("user_data must be a JSON object")
    return checked_watchlist(data.get("watchlist"), app)


def checked_watchlist(value: Any, app: AppSettings) -> tuple[str, ...]:
    """``value`` (a ``watchlist`` field: absent or null, or an array of user ids) as a tuple
    of user ids within the app's limits; ``BadRequest`` for a wrong type, ``LimitExceeded``
    (4100) past ``max_watchlist_users`` or ``max_user_id_chars``."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequest("user_data.watchlist must be an array of user ids")
    limits = app.limits
    ids: dict[str, None] = {}
    for item in value:
        user_id = scalar_user_id(item)
        if user_id is None:
            raise BadRequest("user_data.watchlist items must be non-empty strings or integers")
        if len(user_id) > limits.max_user_id_chars:
            raise LimitExceeded(
                f"a user id in user_data.watchlist is longer than {limits.max_user_id_chars} "
                "characters"
            )
        ids[user_id] = None
    limit = limits.max_watchlist_users
    if limit and len(ids) > limit:
        raise LimitExceeded(
            f"user_data.watchlist has {len(ids)} user ids, over the limit of {limit} "
            "(limits.max_watchlist_users)"
        )
    return tuple(ids)
