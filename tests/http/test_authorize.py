"""``POST /pusher/auth``: bodies, identities, policy, methods, sizes, origins and CORS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from roomkey.config import JwtSettings, PerformanceSettings
from roomkey.core.signing import sign_channel
from tests.support.apps import APP_KEY, APP_SECRET, OTHER_APP, make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.servers import Server, StartServer

SID = "1234.5678"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_token(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT assembled by hand (PyJWT refuses to make these): HS256 over ``key``, or
    unsigned when ``key`` is None."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def claims(user_id: str = "7", expires_in: int = 300) -> dict[str, Any]:
    return {"sub": user_id, "exp": int(time.time()) + expires_in}


async def test_form_body_answers_the_pusher_signature(server: Server) -> None:
    status, body, headers = await post_auth(
        server, {"socket_id": SID, "channel_name": "private-user-7"}, token=make_token("7")
    )
    assert status == 200
    assert body == {"auth": sign_channel(APP_KEY, APP_SECRET, SID, "private-user-7")}
    assert headers["Cache-Control"] == "no-store"


async def test_another_users_private_channel_is_forbidden(server: Server) -> None:
    """The per-user rule is followed by a deny of the rest of the prefix, so user 7 cannot
    obtain a signature for user 8's channel even though a broad private-* rule follows."""
    status, body, _ = await post_auth(
        server, {"socket_id": SID, "channel_name": "private-user-8"}, token=make_token("7")
    )
    assert status == 403
    assert body["error"]["code"] == 4009
    assert "auth" not in body


async def test_json_body(server: Server) -> None:
    status, body, headers = await post_auth(
        server,
        json_body={"socket_id": SID, "channel_name": "private-user-7"},
        token=make_token("7"),
    )
    assert status == 200
    assert body == {"auth": sign_channel(APP_KEY, APP_SECRET, SID, "private-user-7")}
    assert headers["Cache-Control"] == "no-store"


async def test_app_key_field_picks_another_app(server: Server) -> None:
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-x", "app_key": OTHER_APP.key},
        token=make_token("7"),
    )
    # The other app has no rules: private channels are denied.
    assert status == 403, body
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-x", "app_key": "nope"},
        token=make_token("7"),
    )
    assert status == 401 and body["error"]["code"] == 4001


async def test_encrypted_channel_gets_a_shared_secret(server: Server) -> None:
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-encrypted-user-7"},
        token=make_token("7"),
    )
    assert status == 200
    assert body["auth"] == sign_channel(APP_KEY, APP_SECRET, SID, "private-encrypted-user-7")
    digest = hashlib.sha256(b"private-encrypted-user-7" + bytes(range(32))).digest()
    assert body["shared_secret"] == base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"socket_id": "abc", "channel_name": "private-user-7"}, 400, "socket_id"),
        ({"socket_id": "1234", "channel_name": "private-user-7"}, 400, "socket_id"),
        ({"channel_name": "private-user-7"}, 400, "socket_id"),
        ({"socket_id": SID, "channel_name": "bad name"}, 400, "channel_name may only contain"),
        ({"socket_id": SID, "channel_name": "a" * 165}, 400, "channel_name is longer"),
        ({"socket_id": SID}, 400, "channel_name must be a string"),
        ({"socket_id": SID, "channel_name": "public"}, 400, "needs no authorization"),
        ({"socket_id": SID, "channel_name": "private-denied-1"}, 403, "not allowed to join"),
    ],
)
async def test_bad_requests(
    server: Server, fields: dict[str, str], status: int, message: str
) -> None:
    got, body, headers = await post_auth(server, fields, token=make_token("7"))
    assert got == status, body
    assert message in body["error"]["message"]
    assert body["error"]["code"] == (4009 if status == 403 else 4300)
    assert headers["Cache-Control"] == "no-store"


async def test_no_identity_is_401(server: Server) -> None:
    status, body, headers = await post_auth(
        server, {"socket_id": SID, "channel_name": "private-user-7"}
    )
    assert status == 401
    assert body["error"]["code"] == 4009
    assert "no identity" in body["error"]["message"]
    assert headers["Cache-Control"] == "no-store"


async def test_other_schemes_are_not_identities(server: Server) -> None:
    status, _, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-user-7"},
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    )
    assert status == 401


async def test_get_is_405(server: Server) -> None:
    status, body, headers = await post_auth(server, method="GET", token=make_token("7"))
    assert status == 405
    assert body["error"]["code"] == 4300
    assert "POST" in headers["Allow"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (forged_token({"alg": "none", "typ": "JWT"}, claims(), None), "invalid token"),
        (
            forged_token({"alg": "HS256", "typ": "JWT"}, claims(), b"not-the-secret"),
            "invalid token",
        ),
        (make_token("7", expires_in=-60), "token has expired"),
        (pyjwt.encode({"sub": "7"}, "test-jwt-secret-0123456789-0123456789"), "invalid token"),
        (make_token("7").replace(".", "!", 1), "invalid token"),
        ("", "invalid token"),
    ],
    ids=["alg-none", "wrong-secret", "expired", "no-exp", "garbled", "empty"],
)
async def test_bad_tokens_are_401(server: Server, token: str, message: str) -> None:
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-user-7"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 401
    assert body["error"]["code"] == 4009
    assert message in body["error"]["message"]
    assert token == "" or token not in json.dumps(body)


async def test_hs256_signed_with_the_rs_public_key_is_refused(start_server: StartServer) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = replace(
        make_settings(), jwt=JwtSettings(algorithms=("RS256",), public_key=public_pem.decode())
    )
    server = await start_server(settings)
    fields = {"socket_id": SID, "channel_name": "private-user-7"}
    good = pyjwt.encode(claims(), private, algorithm="RS256")
    status, _, _ = await post_auth(server, fields, token=good)
    assert status == 200
    confused = forged_token({"alg": "HS256", "typ": "JWT"}, claims(), public_pem)
    status, body, _ = await post_auth(server, fields, token=confused)
    assert status == 401
    assert body["error"]["code"] == 4009


async def test_audience_and_issuer_are_checked(start_server: StartServer) -> None:
    settings = replace(
        make_settings(),
        jwt=JwtSettings(
            secret="test-jwt-secret-0123456789-0123456789", audience="roomkey", issuer="me"
        ),
    )
    server = await start_server(settings)
    fields = {"socket_id": SID, "channel_name": "private-user-7"}
    status, _, _ = await post_auth(server, fields, token=make_token("7", aud="roomkey", iss="me"))
    assert status == 200
    wrong: list[dict[str, Any]] = [
        {"aud": "other", "iss": "me"},
        {"aud": "roomkey", "iss": "evil"},
        {},
    ]
    for bad in wrong:
        status, _, _ = await post_auth(server, fields, token=make_token("7", **bad))
        assert status == 401, bad


# -- cookies, origins and CORS -------------------------------------------------------------


async def _session_cookie(server: Server, user_id: str = "5") -> dict[str, str]:
    sessions = server.runtime.sessions
    assert sessions is not None
    session_id = await sessions.save({"user_id": user_id, "name": "Eve"})
    return {"AIOHTTP_SESSION": session_id}


async def test_cookie_from_the_same_origin_identifies(server: Server) -> None:
    status, body, _ = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "presence-x"},
        cookies=await _session_cookie(server),
        headers={"Origin": server.url},
    )
    assert status == 200, body
    assert body["channel_data"] == '{"user_id":"5","user_info":{"name":"Eve"}}'


async def test_cross_origin_cookie_request_is_refused(start_server: StartServer) -> None:
    server = await start_server(make_settings(server={"allowed_origins": ("*",)}))
    fields = {"socket_id": SID, "channel_name": "private-user-5"}
    cookies = await _session_cookie(server)
    status, body, headers = await post_auth(
        server, fields, cookies=cookies, headers={"Origin": "http://evil.example"}
    )
    assert status == 403
    assert "allowed origins" in body["error"]["message"]
    # "*" admits the origin (without credentials), so a bearer token from it still works.
    assert headers["Access-Control-Allow-Origin"] == "http://evil.example"
    assert "Access-Control-Allow-Credentials" not in headers
    status, _, _ = await post_auth(
        server, fields, token=make_token("5"), headers={"Origin": "http://evil.example"}
    )
    assert status == 200


async def test_foreign_origin_is_refused_when_only_same_origin_is_allowed(server: Server) -> None:
    fields = {"socket_id": SID, "channel_name": "private-user-5"}
    for kwargs in ({"cookies": await _session_cookie(server)}, {"token": make_token("5")}):
        status, _, headers = await post_auth(
            server, fields, headers={"Origin": "http://evil.example"}, **kwargs
        )
        assert status == 403, kwargs
        assert "Access-Control-Allow-Origin" not in headers


async def test_cors_answers_only_allowed_origins(start_server: StartServer) -> None:
    server = await start_server(
        make_settings(
            server={"allowed_origins": ("https://app.example.com", "https://*.example.org")}
        )
    )
    fields = {"socket_id": SID, "channel_name": "private-user-5"}
    cookies = await _session_cookie(server)
    for origin in ("https://app.example.com", "https://a.example.org"):
        status, _, headers = await post_auth(
            server, fields, cookies=cookies, headers={"Origin": origin}
        )
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == origin
        assert headers["Access-Control-Allow-Credentials"] == "true"
        assert "Origin" in headers["Vary"]
    for origin in (
        "https://evil.example.com",
        "http://app.example.com",
        "https://example.org.evil",
    ):
        status, _, headers = await post_auth(
            server, fields, cookies=cookies, headers={"Origin": origin}
        )
        assert status == 403, origin
        assert "Access-Control-Allow-Origin" not in headers


async def test_preflight(start_server: StartServer) -> None:
    server = await start_server(
        make_settings(server={"allowed_origins": ("https://app.example.com",)})
    )
    status, _, headers = await post_auth(
        server,
        method="OPTIONS",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed_headers = headers["Access-Control-Allow-Headers"].lower()
    for name in ("authorization", "content-type", "x-csrf-token", "x-socket-id"):
        assert name in allowed_headers
    status, _, headers = await post_auth(
        server, method="OPTIONS", headers={"Origin": "https://evil.example.com"}
    )
    assert "Access-Control-Allow-Origin" not in headers


async def test_wildcard_is_never_sent_with_credentials(start_server: StartServer) -> None:
    server = await start_server(make_settings(server={"allowed_origins": ("*",)}))
    status, _, headers = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-user-5"},
        token=make_token("5"),
        headers={"Origin": "https://anything.example"},
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] != "*"
    assert "Access-Control-Allow-Credentials" not in headers


async def test_jsonp_is_not_offered(server: Server) -> None:
    status, _, headers = await post_auth(
        server,
        {"socket_id": SID, "channel_name": "private-user-7", "callback": "steal"},
        token=make_token("7"),
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")


async def test_a_disabled_app_never_signs(start_server: StartServer) -> None:
    server = await start_server(make_settings(enabled=False))
    status, body, _ = await post_auth(
        server, {"socket_id": SID, "channel_name": "private-user-7"}, token=make_token("7")
    )
    assert status == 401
    assert body["error"]["code"] == 4001


async def test_malformed_origin_is_refused_not_a_crash(server: Server) -> None:
    for origin in ("http://[::1", "null", "://", "http://127.0.0.1:1:2"):
        status, body, _ = await post_auth(
            server,
            {"socket_id": SID, "channel_name": "private-user-7"},
            token=make_token("7"),
            headers={"Origin": origin},
        )
        assert status == 403, origin
        assert body["error"]["code"] == 4009


# -- performance.jwt_cache_size: the same answers with and without the cache ---------------


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
