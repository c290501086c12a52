"""The REST signature check against Pusher's published known answer (docs/publishing.md)."""

from __future__ import annotations

import pytest

from roomkey.config import AppSettings
from roomkey.core.apps import AppRegistry
from roomkey.core.errors import Unauthorized
from roomkey.core.signing import (
    SignedQuery,
    verify_rest_body,
    verify_rest_query,
    verify_rest_request,
)

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
STAMP = 1353088179
QUERY = [
    ("auth_key", KEY),
    ("auth_timestamp", str(STAMP)),
    ("auth_version", "1.0"),
    ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
    ("auth_signature", "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"),
]
APPS = AppRegistry(
    (AppSettings(id="3", key=KEY, secret=SECRET), AppSettings(id="4", key="k4", secret="s4"))
)


def check(**overrides: object) -> AppSettings:
    args: dict[str, object] = {
        "method": "POST",
        "paths": ["/apps/3/events"],
        "query": QUERY,
        "body": BODY,
        "now": STAMP + 5,
        "app_id": "3",
        **overrides,
    }
    return verify_rest_request(APPS, **args)  # type: ignore[arg-type]


def test_known_answer_is_accepted() -> None:
    assert check().id == "3"
    # Lower-case method names and upper-case keys sign the same string.
    upper = [(k.upper(), v) for k, v in QUERY]
    assert check(method="post", query=upper).id == "3"


@pytest.mark.parametrize(
    "overrides",
    [
        {"now": STAMP + 601},
        {"now": STAMP - 601},
        {"body": BODY.replace(b"foo", b"bar")},
        {"paths": ["/apps/3/batch_events"]},
        {"app_id": "4"},
        {"method": "GET"},
        {"query": [*QUERY, ("socket_id", "1.1")]},
        {"query": [*QUERY, ("auth_key", KEY)]},
        {"query": [(k, v) for k, v in QUERY if k != "auth_signature"]},
        {"query": [(k, v) for k, v in QUERY if k != "auth_timestamp"]},
        {"query": [(k, v) for k, v in QUERY if k != "body_md5"]},
        {"query": [(k, "2.0" if k == "auth_version" else v) for k, v in QUERY]},
        {"query": [(k, "k4" if k == "auth_key" else v) for k, v in QUERY]},
        {"query": [(k, "soon" if k == "auth_timestamp" else v) for k, v in QUERY]},
    ],
)
def test_every_change_is_401(overrides: dict[str, object]) -> None:
    with pytest.raises(Unauthorized) as err:
        check(**overrides)
    assert err.value.status == 401
    assert "da454824" not in err.value.message


def test_either_the_raw_or_the_decoded_path_may_be_the_signed_one() -> None:
    assert check(paths=["/apps/%33/events", "/apps/3/events"]).id == "3"
    with pytest.raises(Unauthorized):
        check(paths=["/apps/%33/events"])


def query_check(**overrides: object) -> SignedQuery:
    args: dict[str, object] = {
        "method": "POST",
        "paths": ["/apps/3/events"],
        "query": QUERY,
        "now": STAMP + 5,
        "app_id": "3",
        **overrides,
    }
    return verify_rest_query(APPS, **args)  # type: ignore[arg-type]


def test_the_signature_is_checked_from_the_query_alone() -> None:
    # No body needed: the HMAC covers body_md5 as a query parameter, never the body.
    signed = query_check(body_length=len(BODY))
    assert signed.app.id == "3"
    verify_rest_body(signed, BODY)
    with pytest.raises(Unauthorized, match="body_md5 does not match"):
        verify_rest_body(signed, BODY + b" ")
    with pytest.raises(Unauthorized, match="invalid signature"):
        query_check(query=[(k, "0" * 64 if k == "auth_signature" else v) for k, v in QUERY])


def test_a_declared_body_without_body_md5_is_refused_before_it_is_read() -> None:
    no_md5 = [(k, v) for k, v in QUERY if k != "body_md5"]
    with pytest.raises(Unauthorized, match="body_md5 is required"):
        query_check(query=no_md5, body_length=10)
    # With no declared length (or 0), the body decides once read.
    with pytest.raises(Unauthorized, match="invalid signature"):
        query_check(query=no_md5, body_length=0)
