"""Which browser origins may use roomkey, and which may identify with a cookie."""

from __future__ import annotations

import pytest

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
