"""Which browser origins may use roomkey, and which may identify with a cookie; the origin
policy decides for any header value, never raises, and matches patterns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomkey.identity.origins import OriginPolicy

HOST = "rt.example.com"


@pytest.mark.parametrize(
    ("allowed", "origin", "allows", "cookies", "cors"),
    [
        ((), None, True, True, None),  # not a browser's cross-site request
        ((), "https://rt.example.com", True, True, None),  # same origin needs no CORS
        ((), "https://app.example.com", False, False, None),
        (("https://app.example.com",), "https://app.example.com", True, True, True),
        (("https://app.example.com/",), "HTTPS://APP.EXAMPLE.COM", True, True, True),
        (("https://app.example.com",), "http://app.example.com", False, False, None),
        (("https://*.example.com",), "https://a.b.example.com", True, True, True),
        (("https://*.example.com",), "https://example.com", False, False, None),
        (("https://*.example.com",), "https://evilexample.com", False, False, None),
        (("https://*.example.com",), "http://a.example.com", False, False, None),
        (("*.example.com",), "http://a.example.com", True, True, True),
        (("*",), "https://anything.test", True, False, False),  # never cookies for "*"
        (("*", "https://app.example.com"), "https://app.example.com", True, True, True),
        ((), "null", False, False, None),
        ((), "http://[::1", False, False, None),
    ],
)
def test_origin_policy(
    allowed: tuple[str, ...], origin: str | None, allows: bool, cookies: bool, cors: bool | None
) -> None:
    policy = OriginPolicy(allowed)
    assert policy.allows(origin, HOST) is allows
    assert policy.allows_credentials(origin, HOST) is cookies
    assert policy.cors_credentials(origin) is cors


# -- any header value gets an answer -------------------------------------------------------


POLICIES = [
    OriginPolicy(()),
    OriginPolicy(("https://app.example.com", "*.example.org")),
    OriginPolicy(("*",)),
]


@settings(max_examples=100, deadline=None)
@given(origin=st.none() | st.text(max_size=60), host=st.none() | st.text(max_size=30))
def test_any_origin_and_host_get_an_answer(origin: str | None, host: str | None) -> None:
    for policy in POLICIES:
        assert isinstance(policy.allows(origin, host), bool)
        assert isinstance(policy.allows_credentials(origin, host), bool)
        assert policy.cors_credentials(origin) in (True, False, None)


def test_patterns() -> None:
    p = POLICIES[1]
    assert p.allows("https://app.example.com", "roomkey.test")
    assert p.allows("http://a.b.example.org", "roomkey.test")
    assert not p.allows("https://example.org.evil.test", "roomkey.test")
    assert not p.allows("https://evil.test", "roomkey.test")
    assert p.allows("https://roomkey.test", "roomkey.test")  # same origin
    assert not p.allows("http://[", "roomkey.test")
    assert POLICIES[2].cors_credentials("https://evil.test") is False
    assert not POLICIES[2].allows_credentials("https://evil.test", "roomkey.test")
