"""aiohttp-session's cookie storages, opened with the app's key: ``EncryptedCookieStorage``
(a Fernet token) and ``NaClCookieStorage`` (a base64 SecretBox). Both hold the JSON record
``{"created": unix_seconds, "session": {...}}``. Pure (no I/O); PyNaCl is imported only
when a NaCl cookie is opened (``roomkey[nacl]``).

Expiry is aiohttp-session's own: with ``max_age`` set, a Fernet token older than
``max_age`` (Fernet's ``ttl``) and a record whose ``created`` is older than ``max_age`` are
refused, as aiohttp-session starts a fresh session for them. Every refusal is
``Unauthorized`` with reason ``invalid_session`` or ``expired_session``; the message never
contains the cookie.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from roomkey.core.errors import Unauthorized

MAX_SEALED_COOKIE_CHARS = 4096  # what a browser keeps of one cookie


def _invalid(what: str) -> Unauthorized:
    return Unauthorized(f"invalid session cookie ({what})", reason="invalid_session")


def _expired() -> Unauthorized:
    return Unauthorized("session has expired", reason="expired_session")


def open_fernet(cookie: str, key: bytes, max_age: int | None, now: float) -> Mapping[str, Any]:
    """The session values of an ``EncryptedCookieStorage`` cookie sealed with ``key`` (the
    32 raw bytes of the Fernet key)."""
    token = _bounded(cookie).encode("ascii", errors="replace")
    fernet = Fernet(base64.urlsafe_b64encode(key))
    try:
        issued = fernet.extract_timestamp(token)  # verifies the MAC first
        if max_age and issued + max_age < now:
            raise _expired()
        plain = fernet.decrypt(token)
    except InvalidToken:
        raise _invalid("does not decrypt with the key") from None
    return session_of(plain, max_age, now)


def open_nacl(cookie: str, key: bytes, max_age: int | None, now: float) -> Mapping[str, Any]:
    """The session values of a ``NaClCookieStorage`` cookie sealed with ``key`` (32 bytes)."""
    import nacl.exceptions
    import nacl.secret
    from nacl.encoding import Base64Encoder

    sealed = _bounded(cookie).encode("ascii", errors="replace")
    try:
        plain = nacl.secret.SecretBox(key).decrypt(sealed, encoder=Base64Encoder)
    except (binascii.Error, ValueError, TypeError, nacl.exceptions.CryptoError):
        raise _invalid("does not decrypt with the key") from None
    return session_of(plain, max_age, now)


def session_of(plain: bytes, max_age: int | None, now: float) -> Mapping[str, Any]:
    """The ``session`` object of an aiohttp-session record (JSON bytes), refused when it is
    not such a record or when ``created`` is more than ``max_age`` seconds before ``now``."""
    try:
        record = json.loads(plain)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("not JSON") from None
    if not isinstance(record, dict):
        raise _invalid("not an object")
    data = record.get("session")
    if not isinstance(data, dict):
        raise _invalid("no session object")
    created = record.get("created")
    if max_age and isinstance(created, int | float) and not isinstance(created, bool):
        if now - created > max_age:
            raise _expired()
    return data


def _bounded(cookie: str) -> str:
    if not cookie or len(cookie) > MAX_SEALED_COOKIE_CHARS:
        raise _invalid("empty or too large")
    return cookie
