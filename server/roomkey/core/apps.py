"""The apps a server hosts, looked up by id (REST API) and by key (sockets, signatures).

An app is its ``roomkey.config.AppSettings`` (id, key, secret, options, limits): that one
name is used everywhere, in the core and at the edges alike.
"""

from __future__ import annotations

from collections.abc import Iterator

from roomkey.config import AppSettings
from roomkey.core.errors import UnknownApp


class AppRegistry:
    """The apps this server hosts. Immutable after start."""

    def __init__(self, apps: tuple[AppSettings, ...]) -> None:
        if not apps:
            raise ValueError("at least one app is required")
        self._by_id = {a.id: a for a in apps}
        self._by_key = {a.key: a for a in apps}
        self.default = apps[0]
        # The authorize body names its app, so it is read up to the largest app limit.
        self.max_authorize_body_bytes = max(a.limits.max_authorize_body_bytes for a in apps)

    def __iter__(self) -> Iterator[AppSettings]:
        return iter(self._by_id.values())

    def by_key(self, key: object) -> AppSettings:
        """The enabled app with this key; ``UnknownApp`` (4001) otherwise."""
        app = self._by_key.get(key) if isinstance(key, str) else None
        if app is None or not app.enabled:
            raise UnknownApp("unknown app key")
        return app

    def by_id(self, app_id: object) -> AppSettings:
        app = self._by_id.get(app_id) if isinstance(app_id, str) else None
        if app is None or not app.enabled:
            raise UnknownApp("unknown app id")
        return app
