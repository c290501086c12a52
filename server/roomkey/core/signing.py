"""Every HMAC of Pusher's protocol, signed and verified in constant time.

All signatures are HMAC-SHA256 keyed with the app secret, in lowercase hex. Verification always
runs on the raw strings received, never on re-serialised JSON. Nothing here logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from functools import lru_cache

from roomkey.core.channels import validate_socket_id


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


def webhook_signature(secret: str, body: bytes) -> str:
    """``X-Pusher-Signature``: HMAC-SHA256 of the exact body bytes sent."""
    return _mac_hex(secret, body)


def shared_secret(master_key: bytes, channel: str) -> str:
    """The per-channel key of an encrypted channel: base64(SHA-256(channel + master key))."""
    return base64.b64encode(hashlib.sha256(channel.encode() + master_key).digest()).decode()
