"""Asking the app (``[identity.app]``): roomkey forwards the Cookie and Authorization headers
(only those) to a real aiohttp endpoint and takes ``{user_id, user_info}`` from a 200; 401 and
403 are no identity. A slow, failing, redirecting, malformed or stopped endpoint fails closed
(503 / 4200, counted by cause); answers are cached by a hash of the credentials; calls are
bounded in number; the sources are tried in the configured order."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from roomkey.config import (
    AppIdentitySettings,
    IdentitySettings,
    JwtSettings,
    Settings,
)
from tests.support.apps import make_settings, make_token
from tests.support.authorize import post_auth
from tests.support.backends import MEMORY_AND_REDIS, redis_settings
from tests.support.login_apps import serving
from tests.support.metrics import sample
from tests.support.redis_server import RedisServer
from tests.support.servers import StartServer, free_port
from tests.support.socketio_client import ConnectClient, refused
from tests.support.waiting import wait_for_condition

SID = "1234.5678"
PRESENCE = {"socket_id": SID, "channel_name": "presence-club"}
# A ``sid`` cookie or an Authorization header -> the user it is logged in as.
USERS = {"good": ("u1", {"name": "Uma"}), "Bearer app-token": ("u2", {"name": "Ula"})}


@dataclass
class Endpoint:
    """The app's identity endpoint, recording what reaches it."""

    url: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def calls(self, path: str) -> int:
        return sum(1 for s in self.seen if s["path"] == path)


def endpoint_app(ep: Endpoint) -> web.Application:
    async def record(request: web.Request) -> None:
        ep.seen.append({"path": request.path, **request.headers})

    async def whoami(request: web.Request) -> web.StreamResponse:
        await record(request)
        for credential in (request.cookies.get("sid"), request.headers.get("Authorization")):
            if credential in USERS:
                user_id, info = USERS[credential]
                return web.json_response({"user_id": user_id, "user_info": info})
            if credential == "banned":
                return web.json_response({}, status=403)
        return web.json_response({"error": "log in"}, status=401)

    async def slow(request: web.Request) -> web.StreamResponse:
        await record(request)
        ep.in_flight += 1
        ep.most_in_flight = max(ep.most_in_flight, ep.in_flight)
        try:
            await ep.release.wait()
        finally:
            ep.in_flight -= 1
        return web.json_response({"user_id": request.headers["Cookie"][4:]})

    async def fail(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(status=500, text="boom")

    async def redirect(request: web.Request) -> web.StreamResponse:
        await record(request)
        raise web.HTTPFound("/whoami")

    async def malformed(request: web.Request) -> web.StreamResponse:
        await record(request)
        return web.Response(text="<html>welcome</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/slow", slow)
    app.router.add_get("/fail", fail)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/malformed", malformed)
    return app


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    ep = Endpoint()
    async with serving(endpoint_app(ep)) as url:
        ep.url = url
        try:
            yield ep
        finally:
            ep.release.set()  # slow calls roomkey gave up on end before the server stops


def with_app(base: Settings, url: str, **app: Any) -> Settings:
    identity = IdentitySettings(app=AppIdentitySettings(url=url, **app))
    return replace(base, identity=identity)


@pytest.mark.parametrize("backend", MEMORY_AND_REDIS)
async def test_the_apps_answer_is_the_identity(
    backend: str,
    request: pytest.FixtureRequest,
    endpoint: Endpoint,
    start_server: StartServer,
    connect: ConnectClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = make_settings()
    if backend == "redis":
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        base = replace(base, redis=redis_settings(redis_server.url))
    server = await start_server(with_app(base, f"{endpoint.url}/whoami"))
    good = {"Cookie": "sid=good", "X-Private": "not-for-the-app", "Origin": server.url}
    status, body, _ = await post_auth(server, PRESENCE, headers=good)
    assert status == 200, body
    assert body["channel_data"] == '{"user_id":"u1","user_info":{"name":"Uma"}}'
    # Only Cookie and Authorization of the request went to the app.
    forwarded = endpoint.seen[-1]
    assert forwarded["Cookie"] == "sid=good"
    assert "X-Private" not in forwarded and "Origin" not in forwarded
    client = await connect(server, headers={"Cookie": "sid=good"})
    assert await client.subscribe("private-user-u1") == {"channel": "private-user-u1"}
    # 401 and 403: no identity.
    for cookie in ("sid=stranger", "sid=banned"):
        status, body, _ = await post_auth(server, PRESENCE, headers={"Cookie": cookie})
        assert status == 401 and body["error"]["message"].startswith("no identity"), cookie
        anonymous = await connect(server, headers={"Cookie": cookie})
        assert (await anonymous.subscribe("private-user-u1"))["error"]["code"] == 4009
    metrics = server.runtime.metrics.render().decode()
    assert sample(metrics, "roomkey_identity_refusals_total", source="app", reason="no_identity")
    assert "sid=good" not in caplog.text and "sid=stranger" not in caplog.text


async def test_tokens_go_to_the_app_when_it_verifies_them(
    endpoint: Endpoint, start_server: StartServer, connect: ConnectClient
) -> None:
    # No [jwt]: an Authorization header, and a handshake's token, are the app's to check.
    base = replace(make_settings(), jwt=JwtSettings())
    server = await start_server(with_app(base, f"{endpoint.url}/whoami"))
    headers = {"Authorization": "Bearer app-token"}
    status, body, _ = await post_auth(server, PRESENCE, headers=headers)
    assert status == 200 and '"user_id":"u2"' in body["channel_data"], body
    client = await connect(server, token="app-token")
    assert await client.subscribe("private-user-u2") == {"channel": "private-user-u2"}
    assert endpoint.seen[-1]["Authorization"] == "Bearer app-token"


FAILURES = {
    "slow": ("/slow", "timeout", "did not answer within"),
    "failing": ("/fail", "status", "answered 500"),
    "redirecting": ("/redirect", "redirect", "redirected (302)"),
    "malformed": ("/malformed", "bad_answer", "identity answer is not"),
}


async def test_an_endpoint_that_does_not_answer_well_fails_closed(
    endpoint: Endpoint, start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name, (path, cause, message) in FAILURES.items():
        settings = with_app(make_settings(), f"{endpoint.url}{path}", timeout_seconds=0.3)
        server = await start_server(settings)
        status, body, _ = await post_auth(server, PRESENCE, headers={"Cookie": f"sid={name}"})
        assert status == 503, (name, body)
        assert body["error"]["code"] == 4200
        assert message in body["error"]["message"], (name, body)
        data = await refused(server, {"key": "test-key"}, {"Cookie": f"sid={name}"})
        assert data["code"] == 4200, name
        metrics = server.runtime.metrics.render().decode()
        counted = sample(metrics, "roomkey_identity_refusals_total", source="app", reason=cause)
        assert counted == 2, (name, counted)
        # Failures are never cached: the app is asked again each time.
        assert endpoint.calls(path) == 2, name
    # The redirect was not followed.
    assert endpoint.calls("/whoami") == 0
    assert "sid=slow" not in caplog.text


async def test_a_stopped_endpoint_fails_closed(start_server: StartServer) -> None:
    server = await start_server(with_app(make_settings(), f"http://127.0.0.1:{free_port()}/who"))
    status, body, _ = await post_auth(server, PRESENCE, headers={"Cookie": "sid=good"})
    assert status == 503 and "cannot be reached" in body["error"]["message"], body
    metrics = server.runtime.metrics.render().decode()
    assert sample(metrics, "roomkey_identity_refusals_total", source="app", reason="unreachable")


async def test_answers_are_cached_by_credentials(
    endpoint: Endpoint, start_server: StartServer
) -> None:
    server = await start_server(with_app(make_settings(), f"{endpoint.url}/whoami"))
    for _ in range(3):
        assert (await post_auth(server, PRESENCE, headers={"Cookie": "sid=good"}))[0] == 200
    assert endpoint.calls("/whoami") == 1
    for _ in range(2):
        assert (await post_auth(server, PRESENCE, headers={"Cookie": "sid=stranger"}))[0] == 401
    assert endpoint.calls("/whoami") == 2  # other credentials: asked; a 401 is kept too
    uncached = await start_server(
        with_app(make_settings(), f"{endpoint.url}/whoami", cache_seconds=0)
    )
    for _ in range(2):
        assert (await post_auth(uncached, PRESENCE, headers={"Cookie": "sid=good"}))[0] == 200
    assert endpoint.calls("/whoami") == 4


async def test_calls_to_the_app_are_bounded(endpoint: Endpoint, start_server: StartServer) -> None:
    settings = with_app(
        make_settings(), f"{endpoint.url}/slow", max_concurrency=2, timeout_seconds=10
    )
    server = await start_server(settings)
    calls = [
        asyncio.ensure_future(post_auth(server, PRESENCE, headers={"Cookie": f"sid=user{i}"}))
        for i in range(6)
    ]
    await wait_for_condition(lambda: endpoint.in_flight == 2, "two calls at the app")
    assert endpoint.most_in_flight == 2
    endpoint.release.set()
    answers = await asyncio.gather(*calls)
    assert [a[0] for a in answers] == [200] * 6
    assert endpoint.most_in_flight == 2 and endpoint.calls("/slow") == 6


async def test_sources_are_tried_in_order(
    endpoint: Endpoint, start_server: StartServer, connect: ConnectClient
) -> None:
    settings = with_app(make_settings(), f"{endpoint.url}/whoami")
    server = await start_server(settings)
    sessions = server.runtime.sessions
    assert sessions is not None
    session = await sessions.save({"user_id": "s1"})
    both = {"Cookie": f"sid=good; AIOHTTP_SESSION={session}"}
    # The default order: a bearer token, then the session cookie, then the app.
    token = make_token("t1")
    status, body, _ = await post_auth(server, PRESENCE, token=token, headers=both)
    assert '"user_id":"t1"' in body["channel_data"]
    status, body, _ = await post_auth(server, PRESENCE, headers=both)
    assert '"user_id":"s1"' in body["channel_data"]
    assert endpoint.calls("/whoami") == 0
    # A bad token is refused even though a cookie would do.
    expired = make_token("t1", expires_in=-60)
    status, body, _ = await post_auth(server, PRESENCE, token=expired, headers=both)
    assert status == 401 and body["error"]["message"] == "token has expired"
    # The app first.
    order = IdentitySettings(order=("app", "bearer"), app=settings.identity.app)
    app_first = await start_server(replace(settings, identity=order))
    status, body, _ = await post_auth(app_first, PRESENCE, token=token, headers=both)
    assert '"user_id":"u1"' in body["channel_data"], body
    client = await connect(app_first, token=token, headers=dict(both))
    assert await client.subscribe("private-user-u1") == {"channel": "private-user-u1"}
    # Tokens ordered out: a token alone identifies nobody.
    session_only = IdentitySettings(order=("session",), app=settings.identity.app)
    no_tokens = await start_server(replace(settings, identity=session_only))
    status, body, _ = await post_auth(no_tokens, PRESENCE, token=token)
    assert status == 401 and "not enabled" in body["error"]["message"], body
    metrics = server.runtime.metrics.render().decode()
    assert sample(
        metrics, "roomkey_identity_refusals_total", source="bearer", reason="expired_token"
    )


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A TLS server context for 127.0.0.1 with a certificate nobody signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


async def test_an_endpoint_whose_certificate_does_not_verify_fails_closed(
    tmp_path: Path, start_server: StartServer
) -> None:
    ep = Endpoint()
    runner = web.AppRunner(endpoint_app(ep))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self_signed_context(tmp_path))
    await site.start()
    try:
        port = runner.addresses[0][1]
        server = await start_server(with_app(make_settings(), f"https://127.0.0.1:{port}/whoami"))
        status, body, _ = await post_auth(server, PRESENCE, headers={"Cookie": "sid=good"})
        # TLS is verified: a certificate no trusted authority signed is not an answer.
        assert status == 503 and "cannot be reached" in body["error"]["message"], body
        assert ep.seen == []  # the request never got past the handshake
        metrics = server.runtime.metrics.render().decode()
        assert sample(
            metrics, "roomkey_identity_refusals_total", source="app", reason="unreachable"
        )
    finally:
        await runner.cleanup()
