"""docs/protocol.md's signatures: every HMAC against Pusher's published known answers."""

from __future__ import annotations

import hashlib
import hmac

import pusher
from hypothesis import given, settings
from hypothesis import strategies as st

from roomkey.core.signing import (
    body_md5,
    hmac_hex,
    shared_secret,
    sign_channel,
    sign_rest,
    sign_user,
    verify_auth,
    webhook_signature,
)

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET = "1234.1234"
PRESENCE_DATA = '{"user_id":10,"user_info":{"name":"Mr. Pusher"}}'


def test_private_channel_vector() -> None:
    assert sign_channel(KEY, SECRET, SOCKET, "private-foobar") == (
        f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )


def test_second_private_channel_vector() -> None:
    assert sign_channel("foo", "bar", "345.23", "private-channel") == (
        "foo:89955e77e1b40e33df6d515a5ecbba86a01dc816a5b720da18a06fd26f7d92ff"
    )


def test_presence_channel_vector() -> None:
    assert sign_channel(KEY, SECRET, SOCKET, "presence-foobar", PRESENCE_DATA) == (
        f"{KEY}:afaed3695da2ffd16931f457e338e6c9f2921fa133ce7dac49f529792be6304c"
    )


def test_user_signin_vector() -> None:
    assert sign_user(KEY, SECRET, SOCKET, '{"id":"12345"}') == (
        f"{KEY}:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
    )


def test_rest_vector() -> None:
    body = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    md5 = body_md5(body)
    assert md5 == "ec365a775a4cd0599faeb73354201b6f"
    params = {
        "auth_key": KEY,
        "auth_timestamp": "1353088179",
        "auth_version": "1.0",
        "body_md5": md5,
    }
    expected = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
    assert sign_rest(SECRET, "POST", "/apps/3/events", params) == expected
    # auth_signature itself is never signed, and keys are compared lower-cased.
    with_sig = {**{k.upper(): v for k, v in params.items()}, "auth_signature": "x"}
    assert sign_rest(SECRET, "post", "/apps/3/events", with_sig) == expected


def test_verify_accepts_exactly_the_right_signature() -> None:
    message = f"{SOCKET}:private-foobar"
    good = sign_channel(KEY, SECRET, SOCKET, "private-foobar")
    assert verify_auth(KEY, SECRET, message, good)
    hex_part = good.split(":", 1)[1]
    refused = [
        hex_part,  # no key
        f"other-key:{hex_part}",  # another app's key
        f"{KEY}:{hex_part[:-1]}",  # short
        f"{KEY}:{hex_part.upper()}",  # Pusher's hex is lowercase
        f"{KEY}:{'0' * 64}",
        "",
        ":",
        f"{KEY}:\u00e9\u00e9",  # non-ASCII never raises
    ]
    for auth in refused:
        assert not verify_auth(KEY, SECRET, message, auth), auth
    assert not verify_auth(KEY, SECRET, "1234.1235:private-foobar", good)


def test_python_sdk_agrees_with_roomkey() -> None:
    client = pusher.Pusher(app_id="3", key=KEY, secret=SECRET)
    sdk = client.authenticate("private-foobar", SOCKET)
    assert sdk == {"auth": sign_channel(KEY, SECRET, SOCKET, "private-foobar")}
    sdk_presence = client.authenticate(
        "presence-foobar", SOCKET, {"user_id": 10, "user_info": {"name": "Mr. Pusher"}}
    )
    assert sdk_presence["auth"] == sign_channel(
        KEY, SECRET, SOCKET, "presence-foobar", sdk_presence["channel_data"]
    )


def test_webhook_signature_is_hmac_of_the_raw_body() -> None:
    body = b'{"time_ms":1,"events":[]}'
    sig = webhook_signature(SECRET, body)
    assert len(sig) == 64 and sig == sig.lower()
    assert sig != webhook_signature(SECRET, body + b" ")


def test_shared_secret_is_sha256_of_channel_then_master_key() -> None:
    import base64
    import hashlib

    master = bytes(range(32))
    expected = base64.b64encode(hashlib.sha256(b"private-encrypted-x" + master).digest())
    assert shared_secret(master, "private-encrypted-x") == expected.decode()


@settings(max_examples=200, deadline=None)
@given(secret=st.text(min_size=1, max_size=200), message=st.text(max_size=300))
def test_keyed_signatures_match_a_fresh_hmac_for_any_secret(secret: str, message: str) -> None:
    """Each secret's HMAC is keyed once and copied per signature: the copy must sign exactly
    as a fresh HMAC-SHA256 does, for long secrets (hashed first) and repeated calls alike."""
    fresh = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert hmac_hex(secret, message) == fresh
    assert hmac_hex(secret, message) == fresh  # the keyed original is left untouched
    assert webhook_signature(secret, message.encode()) == fresh
