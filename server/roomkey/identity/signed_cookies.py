"""express-session's signed cookie (the ``cookie-signature`` package): ``s:`` + value + ``.``
+ base64 HMAC-SHA256 of the value under the app's secret, without ``=`` padding, then
URL-encoded by the cookie serializer. Pure; verified in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import unquote

SIGNED_PREFIX = "s:"
MAX_SIGNED_COOKIE_CHARS = 4096


def signature(value: str, secret: str) -> str:
    """``cookie-signature``'s signature of ``value``: base64 HMAC-SHA256, ``=`` stripped."""
    mac = hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii").rstrip("=")


def sign(value: str, secret: str) -> str:
    """The cookie value express-session sets for session id ``value`` (before URL-encoding)."""
    return f"{SIGNED_PREFIX}{value}.{signature(value, secret)}"


def unsign(cookie: str, secrets: Sequence[str]) -> str | None:
    """The session id of a signed cookie value (URL-encoded or not) when its signature
    verifies under one of ``secrets`` (each compared in constant time, every one tried);
    None for anything else: unsigned, truncated, re-signed, oversized, not text."""
    if len(cookie) > MAX_SIGNED_COOKIE_CHARS:
        return None
    try:
        value = unquote(cookie, errors="strict") if "%" in cookie else cookie
    except UnicodeDecodeError:
        return None
    if not value.startswith(SIGNED_PREFIX):
        return None
    body = value[len(SIGNED_PREFIX) :]
    dot = body.rfind(".")
    if dot <= 0:
        return None
    session_id, given = body[:dot], body[dot + 1 :]
    given_bytes = given.encode("utf-8")
    ok = False
    for secret in secrets:
        # No early exit: the time taken does not say which secret matched.
        ok |= hmac.compare_digest(signature(session_id, secret).encode("ascii"), given_bytes)
    return session_id if ok else None
