"""The verified-token cache (``performance.jwt_cache_size``): same answers as without it,
expiry still enforced, bounded, rejections never cached."""

from __future__ import annotations

import time
from dataclasses import replace

import aiohttp
import jwt as pyjwt
import pytest

from roomkey.config import JwtSettings, PerformanceSettings
from roomkey.core.errors import Unauthorized
from roomkey.identity.jwt import JwtAuthenticator
from roomkey.identity.jwt_cache import CachedJwtAuthenticator
from tests.conftest import JWT_SECRET, StartServer, make_settings, make_token


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


@pytest.mark.parametrize("size", [0, 100])
async def test_authorize_endpoint_answers_alike_with_and_without_the_cache(
    start_server: StartServer, size: int
) -> None:
    settings = replace(make_settings(), performance=PerformanceSettings(jwt_cache_size=size))
    server = await start_server(settings)
    token = make_token("42")
    answers = []
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(
                f"{server.url}/pusher/auth",
                data={"socket_id": "1234.1234", "channel_name": "private-user-42"},
                headers={"Authorization": f"Bearer {token}"},
            ) as resp:
                assert resp.status == 200
                answers.append(await resp.json())
        async with session.post(
            f"{server.url}/pusher/auth",
            data={"socket_id": "1234.1234", "channel_name": "private-user-42"},
            headers={"Authorization": f"Bearer {token[:-2]}xx"},
        ) as resp:
            assert resp.status == 401
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["auth"].startswith("test-key:")
