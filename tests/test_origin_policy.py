"""The origin policy decides for any header value, never raises, and matches patterns."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from roomkey.identity.origins import OriginPolicy

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
