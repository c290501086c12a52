"""The pure parts of the identity sources: express-session's signed cookies, aiohttp-session's
sealed cookies, values at dotted paths, express sessions' own expiry, the app's answers and
their cache, and the identity settings that check-config refuses."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import nacl.secret
import pytest
from cryptography.fernet import Fernet
from nacl.encoding import Base64Encoder

from roomkey.config import ConfigError, parse_settings
from roomkey.core.errors import IdentityUnavailable, Unauthorized
from roomkey.identity.answer_cache import AnswerCache, credentials_key
from roomkey.identity.app_endpoint import answer_identity
from roomkey.identity.base import Identity
from roomkey.identity.express import parse_session, session_expired
from roomkey.identity.sealed_cookies import open_fernet, open_nacl
from roomkey.identity.session_values import lookup, session_identity
from roomkey.identity.signed_cookies import sign, signature, unsign

KEY = bytes(range(32))

# -- express-session's signed cookie ------------------------------------------------------


def test_signature_matches_cookie_signature() -> None:
    # cookie-signature's own test vector: sign("hello", "tobiiscool").
    assert sign("hello", "tobiiscool") == "s:hello.DGDUkGlIkCzPz+C0B064FNgHdEjox7ch8tOBGslZ5QI"
    assert "=" not in signature("x", "y")


def test_unsign_takes_the_current_and_rotated_secrets() -> None:
    cookie = sign("abc123", "old")
    assert unsign(cookie, ["new", "old"]) == "abc123"
    assert unsign(quote(cookie, safe=""), ["new", "old"]) == "abc123"  # as the browser sends it
    assert unsign(cookie, ["new"]) is None


@pytest.mark.parametrize(
    "cookie",
    [
        "abc123",  # unsigned
        "s:abc123",  # no signature
        "s:abc123.",  # empty signature
        sign("abc123", "other"),  # re-signed
        sign("abc123", "secret")[:-2],  # truncated
        sign("abc123", "secret").replace("abc", "abd"),  # tampered id
        sign("abc123", "secret") + "A" * 5000,  # oversized
        "s%3Aabc%FF.x",  # not UTF-8
        "",
    ],
)
def test_unsign_refuses(cookie: str) -> None:
    assert unsign(cookie, ["secret"]) is None


# -- aiohttp-session's sealed cookies -------------------------------------------------------


def fernet_cookie(record: object, at: float | None = None, key: bytes = KEY) -> str:
    fernet = Fernet(base64.urlsafe_b64encode(key))
    return fernet.encrypt_at_time(json.dumps(record).encode(), int(at or time.time())).decode()


def nacl_cookie(record: object, key: bytes = KEY) -> str:
    box = nacl.secret.SecretBox(key)
    return box.encrypt(json.dumps(record).encode(), encoder=Base64Encoder).decode()


def test_sealed_cookies_open_with_the_key() -> None:
    now = time.time()
    record = {"created": int(now), "session": {"user_id": "u1"}}
    assert open_fernet(fernet_cookie(record), KEY, 60, now) == {"user_id": "u1"}
    assert open_nacl(nacl_cookie(record), KEY, 60, now) == {"user_id": "u1"}


@pytest.mark.parametrize("opener", [open_fernet, open_nacl])
def test_sealed_cookies_refuse(opener: Any) -> None:
    now = time.time()
    seal = fernet_cookie if opener is open_fernet else nacl_cookie
    good = seal({"created": int(now), "session": {"user_id": "u1"}})
    cases = {
        "truncated": (good[:-8], "invalid_session"),
        "other key": (
            seal({"created": int(now), "session": {}}, key=bytes(32)),
            "invalid_session",
        ),
        "garbage": ("%%%not-base64%%%", "invalid_session"),
        "oversized": (good + "A" * 5000, "invalid_session"),
        "not an object": (seal([1, 2]), "invalid_session"),
        "no session": (seal({"created": int(now)}), "invalid_session"),
        "old record": (seal({"created": int(now) - 120, "session": {}}), "expired_session"),
    }
    for name, (cookie, reason) in cases.items():
        with pytest.raises(Unauthorized) as caught:
            opener(cookie, KEY, 60, now)
        assert caught.value.reason == reason, name
        assert cookie not in caught.value.message


def test_an_old_fernet_token_is_expired_by_max_age() -> None:
    now = time.time()
    cookie = fernet_cookie({"created": int(now), "session": {}}, at=now - 120)
    with pytest.raises(Unauthorized) as caught:
        open_fernet(cookie, KEY, 60, now)
    assert caught.value.reason == "expired_session"
    assert open_fernet(cookie, KEY, None, now) == {}  # no max_age: no expiry


# -- session values at dotted paths --------------------------------------------------------


def test_lookup_by_key_then_dotted_path() -> None:
    data = {"passport": {"user": {"id": 7, "name": "Uma"}}, "a.b": "literal"}
    assert lookup(data, "passport.user.id") == 7
    assert lookup(data, "a.b") == "literal"
    assert lookup(data, "passport.nobody.id") is None
    assert lookup(data, "passport.user.id.more") is None
    identity = session_identity(data, "passport.user.id", ("passport.user.name",), "cred")
    assert (identity.user_id, dict(identity.user_info)) == ("7", {"name": "Uma"})
    assert "cred" not in repr(identity)
    with pytest.raises(Unauthorized, match="not logged in"):
        session_identity({"passport": {}}, "passport.user", (), "cred")


# -- express sessions -----------------------------------------------------------------------


def test_express_session_expiry_and_shape() -> None:
    now = time.time()
    assert not session_expired({"cookie": {"expires": None}}, now)
    assert not session_expired({}, now)
    assert session_expired({"cookie": {"expires": "2000-01-01T00:00:00.000Z"}}, now)
    assert not session_expired({"cookie": {"expires": "2999-01-01T00:00:00.000Z"}}, now)
    assert session_expired({"cookie": {"expires": "soon"}}, now)
    assert session_expired({"cookie": "x"}, now)
    assert parse_session(b'{"a": 1}') == {"a": 1}
    for raw in (b"[1]", b"nope", b'"x"', b"{" + b" " * 70_000 + b"}"):
        with pytest.raises(Unauthorized):
            parse_session(raw)


# -- the app's answers and their cache -------------------------------------------------------


def test_answer_identity() -> None:
    identity = answer_identity(b'{"user_id": 5, "user_info": {"name": "Uma"}}', {"Cookie": "c"})
    assert (identity.user_id, identity.source, dict(identity.user_info)) == (
        "5",
        "app",
        {"name": "Uma"},
    )
    assert "Cookie" not in repr(identity)
    assert answer_identity(b'{"user_id": "x", "user_info": null}', {}).user_info == {}
    for body in (b"[]", b"{}", b'{"user_id": ""}', b'{"user_id": "x", "user_info": 3}', b"<"):
        with pytest.raises(IdentityUnavailable) as caught:
            answer_identity(body, {})
        assert caught.value.cause == "bad_answer" and caught.value.code == 4200


def test_answer_cache() -> None:
    now = [0.0]
    cache = AnswerCache(5.0, 2, clock=lambda: now[0])
    who = Identity("u1", source="app")
    key = credentials_key({"Cookie": "a"})
    assert key != credentials_key({"Cookie": "b"}) and len(key) == 64
    assert cache.get(key) == (False, None)
    cache.put(key, who)
    cache.put("none", None)
    assert cache.get(key) == (True, who) and cache.get("none") == (True, None)
    cache.put("third", who)
    assert len(cache) == 2 and cache.get(key) == (False, None)  # the least recently used
    now[0] = 6.0
    assert cache.get("third") == (False, None)
    off = AnswerCache(0.0, 100)
    off.put(key, who)
    assert off.get(key) == (False, None)


# -- check-config ----------------------------------------------------------------------------

APP = {"apps": [{"id": "1", "key": "k", "secret": "x7" * 10}]}


def problems(**tables: Any) -> list[str]:
    try:
        parse_settings({**APP, **tables})
    except ConfigError as exc:
        return exc.errors
    return []


def test_impossible_identity_settings_are_refused() -> None:
    key = base64.urlsafe_b64encode(KEY).decode()
    assert problems(session={"kind": "aiohttp_encrypted"}) == [
        'session.secret_key: kind "aiohttp_encrypted" needs the key the app gives '
        "aiohttp-session (secret_key or secret_key_file: 32 bytes, base64)"
    ]
    assert problems(session={"kind": "aiohttp_nacl", "secret_key": key}) == []
    assert problems(session={"kind": "aiohttp_encrypted", "secret_key": "c2hvcnQ="}) == [
        "session.secret_key: must be 32 bytes, base64-encoded (standard or URL-safe)"
    ]
    assert problems(session={"secret_key": key}) == [
        'session.secret_key: only kinds "aiohttp_encrypted" and "aiohttp_nacl" use a key, '
        'not "memory"'
    ]
    express = problems(session={"kind": "express", "max_age_seconds": 5})
    assert express == [
        'session.kind: "express" needs session.redis_url or a [redis] topology '
        "(url, sentinels or cluster_nodes)",
        'session.secrets: kind "express" needs express-session\'s secret (secrets or '
        "secrets_file; the current one first)",
        'session.max_age_seconds: kind "express" keeps each session\'s own expiry '
        "(its cookie.expires); leave it 0",
    ]
    assert problems(session={"secrets": ["s"]}) == [
        'session.secrets: only kind "express" uses secrets, not "memory"'
    ]
    assert problems(session={"kind": "aiohttp_encrypted", "store": "redis", "secret_key": key})[
        0
    ].startswith('session.store: "redis" is the older name')
    assert problems(identity={"order": ["app", "bearer", "app", "cookie"]}) == [
        "identity.order: unknown identity sources cookie (choose from bearer, session, app)",
        "identity.order: names a source more than once",
    ]
    assert problems(identity={"order": ["app", "bearer"]}) == [
        'identity.order: "app" needs identity.app.url',
        'identity.order: "bearer" needs [jwt] secret or public_key',
    ]
    assert problems(identity={"app": {"url": "ftp://x"}}) == [
        "identity.app.url: must be an http:// or https:// URL"
    ]


def test_keys_and_secrets_from_files(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(base64.b64encode(KEY).decode() + "\n")
    raw_file = tmp_path / "raw"
    raw_file.write_bytes(KEY)
    secrets_file = tmp_path / "secrets"
    secrets_file.write_text("new-secret\n\nold-secret\n")
    for path in (key_file, raw_file):
        s = parse_settings(
            {**APP, "session": {"kind": "aiohttp_encrypted", "secret_key_file": str(path)}}
        )
        assert s.session.secret_key == KEY
        assert base64.b64encode(KEY).decode() not in repr(s)
    s = parse_settings(
        {
            **APP,
            "redis": {"url": "redis://127.0.0.1:6379/0"},
            "session": {"kind": "express", "secrets_file": str(secrets_file)},
        }
    )
    assert s.session.secrets == ("new-secret", "old-secret")
    assert "old-secret" not in repr(s)
    missing = problems(session={"kind": "aiohttp_nacl", "secret_key_file": "/nonexistent/k"})
    assert missing[0].startswith("session.secret_key_file: cannot read")
