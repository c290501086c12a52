"""Every HMAC of Pusher's protocol, signed and verified in constant time, and the signature
check of its REST API (docs/publishing.md), knowing nothing of HTTP.

All signatures are HMAC-SHA256 keyed with the app secret, in lowercase hex. Verification always
runs on the raw strings received, never on re-serialised JSON. Nothing here logs.

A REST request is signed with ``auth_key``, ``auth_timestamp``, ``auth_version`` and, when it
has a body, ``body_md5`` in its query, and ``auth_signature = HMAC-SHA256(secret,
"METHOD\\npath\\nquery")`` where the query is every other parameter, keys lower-cased, sorted,
``k=v`` joined by ``&``, not URL-escaped. Every problem is an ``Unauthorized`` (HTTP 401); the
messages name what was wrong but never echo a signature. The check is in two steps so that the
HTTP edge reads no body for a request that is not signed: ``verify_rest_query`` (everything in
the query, the HMAC included), then ``verify_rest_body`` (the body against ``body_md5``).

As with Pusher, nothing remembers a signature: the same signed request may be sent again, and
is accepted again, while its ``auth_timestamp`` is within ``MAX_CLOCK_SKEW_SECONDS`` of the
server's clock (docs/publishing.md says what that means for publishers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from roomkey.config import AppSettings
from roomkey.core.apps import AppRegistry
from roomkey.core.channels import validate_socket_id
from roomkey.core.errors import Unauthorized, UnknownApp

MAX_CLOCK_SKEW_SECONDS = 600
AUTH_VERSION = "1.0"


@lru_cache(maxsize=64)
def _keyed(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 already keyed with ``secret`` (app secrets only, never client input),
    copied per signature: the key schedule is done once per secret, not per call (about a
    third of a short signature's cost with OpenSSL 3)."""
    return hmac.new(secret.encode(), digestmod="sha256")


def _mac_hex(secret: str, data: bytes) -> str:
    mac = _keyed(secret).copy()
    mac.update(data)
    return mac.hexdigest()


def hmac_hex(secret: str, message: str) -> str:
    return _mac_hex(secret, message.encode())


def macs_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two MACs (any strings; non-ASCII never raises)."""
    return hmac.compare_digest(a.encode(), b.encode())


# -- channels and user sign-in -------------------------------------------------------------


def channel_string(socket_id: str, channel: str, channel_data: str | None = None) -> str:
    if channel_data is None:
        return f"{socket_id}:{channel}"
    return f"{socket_id}:{channel}:{channel_data}"


def sign_channel(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """The ``auth`` value for a private, encrypted (no channel_data) or presence channel.
    ``BadRequest`` if ``socket_id`` is not a socket id (nothing is signed for one)."""
    validate_socket_id(socket_id)
    return f"{key}:{hmac_hex(secret, channel_string(socket_id, channel, channel_data))}"


def user_string(socket_id: str, user_data: str) -> str:
    return f"{socket_id}::user::{user_data}"


def sign_user(key: str, secret: str, socket_id: str, user_data: str) -> str:
    """The ``auth`` value for user sign-in. ``BadRequest`` if ``socket_id`` is not a socket
    id."""
    validate_socket_id(socket_id)
    return f"{key}:{hmac_hex(secret, user_string(socket_id, user_data))}"


def verify_auth(key: str, secret: str, message: str, auth: str) -> bool:
    """True when ``auth`` is ``"{key}:{hex}"`` with the right key and the right MAC of
    ``message``. Both parts are compared in constant time."""
    given_key, sep, given_mac = auth.partition(":")
    if not sep:
        return False
    expected = hmac_hex(secret, message)
    key_ok = macs_equal(given_key, key)
    mac_ok = macs_equal(given_mac, expected)
    return key_ok and mac_ok


# -- the REST API --------------------------------------------------------------------------


def rest_string(method: str, path: str, params: Mapping[str, str]) -> str:
    """``METHOD\\npath\\nquery``: every parameter but ``auth_signature``, keys lower-cased,
    sorted, ``k=v`` joined by ``&``, not URL-escaped."""
    pairs = sorted((k.lower(), v) for k, v in params.items() if k.lower() != "auth_signature")
    query = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method.upper()}\n{path}\n{query}"


def sign_rest(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    return hmac_hex(secret, rest_string(method, path, params))


def body_md5(body: bytes) -> str:
    # MD5 is what the protocol names for body integrity under the HMAC; it is not a MAC itself.
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


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


@dataclass(frozen=True, slots=True)
class SignedQuery:
    """A request whose query is signed by ``app``; its body is still to be checked against
    ``body_md5`` (None when the query carries none) with ``verify_rest_body``."""

    app: AppSettings
    body_md5: str | None


def verify_rest_query(
    apps: AppRegistry,
    *,
    method: str,
    paths: Sequence[str],
    query: Sequence[tuple[str, str]],
    now: float,
    app_id: str | None,
    body_length: int | None = None,
) -> SignedQuery:
    """Everything that can be checked before the body is read, or ``Unauthorized``.

    The signature covers ``METHOD\\npath\\nquery`` and so ``body_md5`` as a query parameter,
    never the body itself: the HMAC is checked here, and a request that is not signed with an
    app's secret never has its body read. ``verify_rest_body`` then holds the body to
    ``body_md5``.

    ``paths``: the request path as received and, if different, its percent-decoded form (SDKs
    sign the path they build; an HTTP library may have escaped it on the way). ``query``: the
    decoded query pairs, in order; a repeated key is refused. ``app_id``: the id in the path,
    which must belong to the app of ``auth_key`` (None for routes without an app id).
    ``now``: seconds since the epoch. ``body_length``: the declared length of the body
    (``Content-Length``), when known: a body declared non-empty needs ``body_md5``.
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
    if md5 is None and body_length:
        raise _body_md5_required()
    ok = False
    for path in paths:
        expected = sign_rest(app.secret, method, path, params)
        # Evaluate every candidate: the time taken never says which form matched.
        ok = macs_equal(given, expected) or ok
    if not ok:
        raise _unauthorized("invalid signature: sign METHOD\\npath\\nsorted query")
    return SignedQuery(app, md5)


def verify_rest_body(signed: SignedQuery, body: bytes) -> None:
    """``Unauthorized`` unless ``body`` is the one the signed query names: its MD5 is
    ``body_md5``, or the query has none and the body is empty."""
    if signed.body_md5 is not None:
        if not macs_equal(signed.body_md5, body_md5(body)):
            raise _unauthorized("body_md5 does not match the body")
    elif body:
        raise _body_md5_required()


def _body_md5_required() -> Unauthorized:
    return _unauthorized("body_md5 is required for a request with a body")


def verify_rest_request(
    apps: AppRegistry,
    *,
    method: str,
    paths: Sequence[str],
    query: Sequence[tuple[str, str]],
    body: bytes,
    now: float,
    app_id: str | None,
) -> AppSettings:
    """The app that signed this request, or ``Unauthorized``: ``verify_rest_query`` then
    ``verify_rest_body``, for a caller that holds the whole request (arguments as there)."""
    signed = verify_rest_query(
        apps, method=method, paths=paths, query=query, now=now, app_id=app_id
    )
    verify_rest_body(signed, body)
    return signed.app


# -- webhooks and encrypted channels -------------------------------------------------------


def webhook_signature(secret: str, body: bytes) -> str:
    """``X-Pusher-Signature``: HMAC-SHA256 of the exact body bytes sent."""
    return _mac_hex(secret, body)


def shared_secret(master_key: bytes, channel: str) -> str:
    """The per-channel key of an encrypted channel: base64(SHA-256(channel + master key))."""
    return base64.b64encode(hashlib.sha256(channel.encode() + master_key).digest()).decode()
