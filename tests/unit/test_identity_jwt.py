"""Bearer-token identity: pinned algorithms, required exp, aud/iss, user id and user_info."""

from __future__ import annotations

import time
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from roomkey.config import JwtSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.jwt import JwtAuthenticator
from roomkey.identity.resolver import IdentityResolver, bearer_from_header

SECRET = "s" * 32


def token(claims: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256") -> str:
    return pyjwt.encode({"exp": int(time.time()) + 60, **claims}, key, algorithm=algorithm)


def test_identity_from_configured_claims() -> None:
    auth = JwtAuthenticator(JwtSettings(secret=SECRET, user_info_claims=("name", "avatar")))
    ident = auth.authenticate(token({"sub": "42", "name": "Ada", "role": "admin", "email": "a@x"}))
    assert ident.user_id == "42"
    assert dict(ident.user_info) == {"name": "Ada"}  # absent claims are left out
    assert ident.claims["role"] == "admin"
    assert ident.source == "jwt"


def test_custom_user_id_claim() -> None:
    auth = JwtAuthenticator(JwtSettings(secret=SECRET, user_id_claim="uid"))
    assert auth.authenticate(token({"uid": "u-1"})).user_id == "u-1"
    assert auth.authenticate(token({"uid": 7})).user_id == "7"  # integers become text
    with pytest.raises(Unauthorized, match="no uid claim"):
        auth.authenticate(token({"sub": "u-1"}))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: token({"sub": "1"}, key="x" * 32), "invalid_token"),
        (lambda: token({"sub": "1"}, key="s" * 64, algorithm="HS512"), "invalid_token"),
        (lambda: pyjwt.encode({"sub": "1"}, SECRET, algorithm="HS256"), "invalid_token"),  # no exp
        (lambda: token({"sub": "1", "exp": int(time.time()) - 5}), "expired_token"),
        (lambda: token({"sub": True}), "invalid_token"),
        (lambda: token({"sub": 42}), "invalid_token"),  # RFC 7519: sub is a string
        (lambda: token({"sub": ""}), "invalid_token"),
        (lambda: "a.b.c", "invalid_token"),
        (lambda: "x" * 9000, "invalid_token"),
    ],
)
def test_refusals(make: Any, reason: str) -> None:
    auth = JwtAuthenticator(JwtSettings(secret=SECRET))
    with pytest.raises(Unauthorized) as err:
        auth.authenticate(make())
    assert err.value.reason == reason
    assert err.value.code == 4009 and err.value.status == 401


def test_leeway_admits_slightly_expired_tokens() -> None:
    auth = JwtAuthenticator(JwtSettings(secret=SECRET, leeway_seconds=30))
    assert auth.authenticate(token({"sub": "1", "exp": int(time.time()) - 5})).user_id == "1"


def test_es256_public_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    auth = JwtAuthenticator(JwtSettings(algorithms=("ES256",), public_key=pem.decode()))
    assert auth.authenticate(token({"sub": "9"}, key=private, algorithm="ES256")).user_id == "9"
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Unauthorized):
        auth.authenticate(token({"sub": "9"}, key=other, algorithm="ES256"))


async def test_resolver_order() -> None:
    resolver = IdentityResolver(JwtAuthenticator(JwtSettings(secret=SECRET)), None)
    assert await resolver.resolve(None, None, True) is None
    ident = await resolver.resolve(token({"sub": "1"}), "cookie", False)
    assert ident is not None and ident.user_id == "1"  # a token wins over any cookie
    with pytest.raises(Unauthorized):
        await resolver.resolve("bad", None, True)
    no_jwt = IdentityResolver(None, None)
    with pytest.raises(Unauthorized, match="not enabled"):
        await no_jwt.resolve(token({"sub": "1"}), None, True)


def test_bearer_header() -> None:
    assert bearer_from_header("Bearer abc") == "abc"
    assert bearer_from_header("bearer  abc ") == "abc"
    assert bearer_from_header("Basic abc") is None
    assert bearer_from_header(None) is None
    assert bearer_from_header("Bearer") == ""
