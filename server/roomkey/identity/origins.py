"""Which browser origins may talk to roomkey (authorize endpoint, socket upgrades).

Patterns: an exact origin (``https://app.example.com``), a wildcard host
(``https://*.example.com`` or ``*.example.com`` for any scheme), or ``*`` (any origin; never
combined with credentials by the CORS code). An empty list means same origin only: the
request's ``Origin`` must name the host it was sent to. A request without ``Origin`` is not a
browser's cross-site request and is allowed.
"""

from __future__ import annotations

from urllib.parse import urlsplit


class OriginPolicy:
    def __init__(self, allowed: tuple[str, ...]) -> None:
        self._exact: set[str] = set()
        self._suffixes: list[tuple[str | None, str]] = []
        self._any = False
        for pattern in allowed:
            p = pattern.strip().rstrip("/").lower()
            if p == "*":
                self._any = True
            elif "*." in p:
                scheme, _, host = p.rpartition("://") if "://" in p else ("", "", p)
                self._suffixes.append((scheme or None, host[1:]))  # ".example.com"
            else:
                self._exact.add(p)

    def allows(self, origin: str | None, host: str | None) -> bool:
        """True when a request with this ``Origin`` header, sent to ``host`` (the Host
        header), is allowed."""
        if origin is None:
            return True
        o = origin.strip().rstrip("/").lower()
        if self._any or o in self._exact:
            return True
        if self._matches_suffix(o):
            return True
        return _same_origin(o, host)

    def cors_credentials(self, origin: str | None) -> bool | None:
        """How to answer CORS for this origin: True (echo it, with credentials) for a listed
        origin or pattern; False (echo it, without credentials) when only ``*`` admits it;
        None (no CORS headers) otherwise."""
        if origin is None:
            return None
        o = origin.strip().rstrip("/").lower()
        if o in self._exact or self._matches_suffix(o):
            return True
        return False if self._any else None

    def _matches_suffix(self, origin: str) -> bool:
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if not parts.scheme or not parts.hostname:
            return False
        return any(
            (scheme is None or scheme == parts.scheme) and parts.hostname.endswith(suffix)
            for scheme, suffix in self._suffixes
        )

    def allows_credentials(self, origin: str | None, host: str | None) -> bool:
        """Whether a cookie may identify a request with this Origin: no Origin, the same
        origin, or a listed origin or pattern; ``*`` alone never admits cookies."""
        if origin is None:
            return True
        o = origin.strip().rstrip("/").lower()
        if o in self._exact or self._matches_suffix(o):
            return True
        return _same_origin(o, host)


def _same_origin(origin: str, host: str | None) -> bool:
    """Whether a (lower-cased) Origin names ``host``; a malformed Origin (hostile input,
    e.g. ``http://[``) names nothing."""
    try:
        return host is not None and urlsplit(origin).netloc == host.strip().lower()
    except ValueError:
        return False
