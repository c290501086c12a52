"""The signature check of Pusher's REST API (PROTOCOL.md section 2), knowing nothing of HTTP.

A request is signed with ``auth_key``, ``auth_timestamp``, ``auth_version`` and, when it has a
body, ``body_md5`` in its query, and ``auth_signature = HMAC-SHA256(secret,
"METHOD\\npath\\nquery")`` where the query is every other parameter, keys lower-cased, sorted,
``k=v`` joined by ``&``, not URL-escaped. Every problem is an ``Unauthorized`` (HTTP 401); the
messages name what was wrong but never echo a signature.
"""

from __future__ import annotations

from collections.abc import Sequence

from roomkey.apps import App, AppRegistry
from roomkey.errors import Unauthorized, UnknownApp
from roomkey.signing import body_md5, macs_equal, sign_rest

MAX_CLOCK_SKEW_SECONDS = 600
AUTH_VERSION = "1.0"


def _unauthorized(message: str) -> Unauthorized:
    return Unauthorized(message, reason="bad_signature")


def _timestamp(value: str | None, now: float) -> None:
    if value is None:
        raise _unauthorized("auth_timestamp is required")
    try:
        stamp = int(value)
    except ValueError:
        raise _unauthorized("auth_timestamp must be an integer (seconds since the epoch)") from None
    if abs(now - stamp) > MAX_CLOCK_SKEW_SECONDS:
        raise _unauthorized(
            f"auth_timestamp is more than {MAX_CLOCK_SKEW_SECONDS} seconds from the server's"
            " clock: check the publisher's clock"
        )


def verify_rest_request(
    apps: AppRegistry,
    *,
    method: str,
    paths: Sequence[str],
    query: Sequence[tuple[str, str]],
    body: bytes,
    now: float,
    app_id: str | None,
) -> App:
    """The app that signed this request, or ``Unauthorized``.

    ``paths``: the request path as received and, if different, its percent-decoded form (SDKs
    sign the path they build; an HTTP library may have escaped it on the way). ``query``: the
    decoded query pairs, in order; a repeated key is refused. ``app_id``: the id in the path,
    which must belong to the app of ``auth_key`` (None for routes without an app id).
    ``now``: seconds since the epoch.
    """
    params: dict[str, str] = {}
    for key, value in query:
        lowered = key.lower()
        if lowered in params:
            raise _unauthorized(f"query parameter {lowered} is repeated")
        params[lowered] = value
    given = params.get("auth_signature")
    if not given:
        raise _unauthorized("auth_signature is required")
    try:
        app = apps.by_key(params.get("auth_key"))
    except UnknownApp:
        raise _unauthorized("auth_key is not the key of an app on this server") from None
    if app_id is not None and not macs_equal(app_id, app.id):
        raise _unauthorized("auth_key does not belong to the app in the path")
    if params.get("auth_version") != AUTH_VERSION:
        raise _unauthorized(f"auth_version must be {AUTH_VERSION}")
    _timestamp(params.get("auth_timestamp"), now)
    md5 = params.get("body_md5")
    if md5 is not None:
        if not macs_equal(md5, body_md5(body)):
            raise _unauthorized("body_md5 does not match the body")
    elif body:
        raise _unauthorized("body_md5 is required for a request with a body")
    ok = False
    for path in paths:
        expected = sign_rest(app.secret, method, path, params)
        # Evaluate every candidate: the time taken never says which form matched.
        ok = macs_equal(given, expected) or ok
    if not ok:
        raise _unauthorized("invalid signature: sign METHOD\\npath\\nsorted query")
    return app
