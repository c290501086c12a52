"""Which address a request comes from, with and without trusted proxies; and their config."""

from __future__ import annotations

import pytest

from roomkey.config import ConfigError, parse_settings
from roomkey.identity.proxies import ClientAddresses


def test_peer_without_trusted_proxies() -> None:
    assert ClientAddresses().resolve("192.0.2.1", "203.0.113.5") == "192.0.2.1"


def test_rightmost_untrusted_hop_behind_trusted_proxies() -> None:
    a = ClientAddresses(("10.0.0.0/8", "2001:db8::/32"))
    assert a.resolve("10.0.0.1", "1.1.1.1, 203.0.113.5, 10.0.0.7") == "203.0.113.5"
    assert a.resolve("2001:db8::1", "2001:db8::2, 2001:db9::5") == "2001:db9::5"
    assert a.resolve("10.0.0.1", None) == "10.0.0.1"
    # An untrusted peer's header is ignored, whatever it says.
    assert a.resolve("198.51.100.9", "203.0.113.5") == "198.51.100.9"
    # Garbage in a trusted proxy's header falls back to the peer.
    assert a.resolve("10.0.0.1", "not-an-ip") == "10.0.0.1"
    # Every hop trusted: the leftmost is the best we know.
    assert a.resolve("10.0.0.1", "10.1.1.1, 10.0.0.2") == "10.1.1.1"


def test_trusted_proxies_are_validated_with_their_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(
            {
                "server": {"trusted_proxies": ["10.0.0.0/8", "proxy.local"]},
                "apps": [{"id": "1", "key": "k", "secret": "s" * 16}],
            }
        )
    assert any("server.trusted_proxies" in e and "proxy.local" in e for e in err.value.errors)
