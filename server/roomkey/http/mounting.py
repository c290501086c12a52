"""Where roomkey's routes go in a host application: under a path prefix, and never where a
route of the host's would shadow one of them or be shadowed by it.

``normalized_prefix`` checks ``setup(prefix=...)``. ``RouteGuard`` takes a snapshot of the
host's routes before roomkey adds its own, then names any overlap: a path that one of
roomkey's routes and one of the host's would both match (whatever the methods: aiohttp picks
the first resource registered, so one of them would silently never run). It checks at
``setup`` (routes the host added before) and again when the application starts (routes added
after), raising ``RouteConflict`` either way. A broad host route added after ``setup`` (a
catch-all fallback) is allowed: roomkey's routes, registered first, keep their paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractResource, PrefixResource

# aiohttp's own route grammar (web_urldispatcher): ``{name}`` and ``{name:regex}``.
_PART = re.compile(r"(\{[_a-zA-Z][^{}]*(?:\{[^{}]*\}[^{}]*)*\})")
_SAMPLE = "x1"
_PREFIX = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*")


class RouteConflict(ValueError):
    """A route of the host application and one of roomkey's would match the same path; the
    message names both. Raised by ``setup`` (and when the application starts, for a host
    route added after ``setup``). Mount roomkey under a ``prefix``, or move the host's route."""


def normalized_prefix(prefix: str) -> str:
    """``""`` or ``/segment[/segment...]`` without a trailing slash (``"/realtime/"`` is
    ``"/realtime"``); ``ValueError`` for anything else (no braces, no ``?``, no ``#``)."""
    if not isinstance(prefix, str):
        raise TypeError("prefix must be a string such as '/realtime'")
    cleaned = prefix.rstrip("/")
    if cleaned and (not cleaned.startswith("/") or _PREFIX.fullmatch(cleaned) is None):
        raise ValueError(f"prefix must look like '/realtime' (got {prefix!r})")
    return cleaned


def _sample(template: str) -> str:
    """A path ``template`` (``/apps/{app_id}/events``) matches: each variable as ``x1``."""
    return "".join(_SAMPLE if _PART.fullmatch(p) else p for p in _PART.split(template))


def _matches(resource: AbstractResource, path: str) -> bool:
    """Whether ``resource`` would take a request for ``path`` (its methods aside), from what
    aiohttp says of it (``get_info``): a plain path, a compiled pattern, or a prefix (static
    files, sub-applications)."""
    info = resource.get_info()
    pattern = info.get("pattern")
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(path) is not None
    if isinstance(resource, PrefixResource) or "prefix" in info:
        prefix = str(info.get("prefix", resource.canonical)).rstrip("/")
        return path == prefix or path.startswith(prefix + "/")
    plain = info.get("path")
    return isinstance(plain, str) and plain == path


def _overlap(ours: AbstractResource, theirs: AbstractResource) -> bool:
    """Whether a path one of them is for would also go to the other. Tried with a sample path
    of each (every variable ``x1``): a sample misses a host route whose variables need
    another shape, but never names an overlap that is not there."""
    return _matches(theirs, _sample(ours.canonical)) or _matches(ours, _sample(theirs.canonical))


def _conflict(ours: AbstractResource, theirs: AbstractResource) -> RouteConflict:
    return RouteConflict(
        f"the host application's route {theirs.canonical!r} overlaps roomkey's route"
        f" {ours.canonical!r}: one of them would never be reached. Mount roomkey under"
        " another prefix (setup(app, settings, prefix='/realtime')) or move the host's route"
    )


class RouteGuard:
    """``before = RouteGuard(app)`` before roomkey adds its routes, ``check()`` after; keep it
    and call ``check`` again at start-up."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._sizes = {id(r): len(r) for r in app.router.resources()}
        self._ours: list[AbstractResource] = []

    def adopt(self) -> None:
        """Take every resource added since the snapshot as roomkey's; ``RouteConflict`` when
        roomkey's routes went into a resource the host had already registered (same path)."""
        for resource in self._app.router.resources():
            size = self._sizes.get(id(resource))
            if size is None:
                self._ours.append(resource)
            elif size != len(resource):
                raise _conflict(resource, resource)
        self.check()

    def failed(self, exc: RuntimeError) -> RouteConflict:
        """The error to raise when aiohttp refused one of roomkey's routes (``exc``): it went
        into the host's last resource, of the same path, whose method it already serves."""
        resources = list(self._app.router.resources())
        if resources and id(resources[-1]) in self._sizes:
            return _conflict(resources[-1], resources[-1])
        return RouteConflict(f"roomkey's routes could not be added: {exc}")

    def check(self) -> None:
        """``RouteConflict`` naming the first overlap between roomkey's routes and the
        host's. A host route added before roomkey's overlaps when either would take a path
        the other is for. One added after overlaps when one of roomkey's takes every path
        it is for (it would never be reached); a broader one (``/{tail:.*}``, a fallback
        page) is fine then: roomkey's paths stay roomkey's."""
        ours_ids = {id(r) for r in self._ours}
        theirs: Iterable[AbstractResource] = (
            r for r in self._app.router.resources() if id(r) not in ours_ids
        )
        for other in theirs:
            before = id(other) in self._sizes
            for mine in self._ours:
                if _overlap(mine, other) if before else _matches(mine, _sample(other.canonical)):
                    raise _conflict(mine, other)
