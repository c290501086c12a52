"""The verified-token cache (``performance.jwt_cache_size``): same answers as without it,
expiry still enforced, bounded, rejections never cached."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from roomkey.config import JwtSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.jwt import JwtAuthenticator
from roomkey.identity.jwt_cache import CachedJwtAuthenticator
from tests.support.apps import JWT_SECRET, make_token


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_cached_identity_equals_a_fresh_verification() -> None:
    token = make_token("7", name="Ada")
    cached = CachedJwtAuthenticator(JwtSettings(secret=JWT_SECRET), size=10)
    plain = JwtAuthenticator(JwtSettings(secret=JWT_SECRET))
    assert cached.authenticate(token) == plain.authenticate(token)
    assert cached.authenticate(token) == plain.authenticate(token)
    assert len(cached) == 1


def test_a_cached_token_still_expires() -> None:
    clock = Clock()
    cache = CachedJwtAuthenticator(JwtSettings(secret=JWT_SECRET), size=10, clock=clock)
    token = make_token("7", expires_in=30)
    assert cache.authenticate(token).user_id == "7"
    clock.now += 31
    with pytest.raises(Unauthorized) as info:
        cache.authenticate(token)
    assert info.value.reason == "expired_token"
    assert len(cache) == 0


def test_a_cached_token_ends_where_pyjwt_ends_it() -> None:
    # PyJWT reads ``exp`` as ``int(exp)``: a fractional exp ends at its whole second, and the
    # leeway extends it alike; a cache hit must never outlive what a fresh check accepts.
    clock = Clock()
    exp = int(clock.now) + 30.75
    token = pyjwt.encode({"sub": "7", "exp": exp}, JWT_SECRET, algorithm="HS256")
    for leeway in (0.0, 5.0):
        cache = CachedJwtAuthenticator(
            JwtSettings(secret=JWT_SECRET, leeway_seconds=leeway), size=10, clock=clock
        )
        clock.now = time.time()
        assert cache.authenticate(token).expires_at == int(exp) + leeway
        clock.now = int(exp) + leeway + 0.25  # past int(exp) + leeway, before exp + leeway
        with pytest.raises(Unauthorized) as info:
            cache.authenticate(token)
        assert info.value.reason == "expired_token"


def test_the_cache_is_bounded_and_rejections_are_not_kept() -> None:
    cache = CachedJwtAuthenticator(JwtSettings(secret=JWT_SECRET), size=3)
    for i in range(10):
        cache.authenticate(make_token(str(i)))
    assert len(cache) == 3
    forged = make_token("7", secret="another-secret-0123456789-0123456789")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            cache.authenticate(forged)
    assert len(cache) == 3
