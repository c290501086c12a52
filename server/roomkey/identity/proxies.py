"""The client's address: the socket peer, or ``X-Forwarded-For`` when the peer is a trusted
proxy (``server.trusted_proxies``: addresses or CIDR networks).

Behind trusted proxies the address is the rightmost ``X-Forwarded-For`` entry that is not
itself a trusted proxy: entries further left were written by the client and prove nothing.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddresses:
    def __init__(self, trusted_proxies: tuple[str, ...] = ()) -> None:
        self._trusted: tuple[Network, ...] = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies
        )

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in net for net in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        """The address to rate-limit and log. ``peer``: the socket's remote address;
        ``forwarded_for``: the raw ``X-Forwarded-For`` header (all values joined by commas)."""
        peer = peer or ""
        if not self._trusted or not forwarded_for or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops[-32:]):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # garbage from a proxy we trust: fall back to the peer
        return hops[0] if hops else peer
