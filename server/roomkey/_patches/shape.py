"""How a library's private part is checked before a patch relies on it.

Each function returns the problems it found, as short phrases naming the attribute (empty:
the shape holds). They look at classes and at objects built for the purpose, never at a
running server, so they can run at start-up, before any loop exists.
"""

from __future__ import annotations

import inspect
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any


class LibraryMismatch(RuntimeError):
    """A library installed is not of the shape one of roomkey's guards is built on, and a
    guard has no safe fallback: roomkey does not start. The message is one line naming the
    library and its version, the part that changed and what it guards."""


# Handed to the library objects built only to be looked at, so that building them logs
# nothing anywhere (with ``logger=False`` python-engineio would attach a StreamHandler).
SILENT = logging.Logger("roomkey.patches.probe", level=logging.CRITICAL + 1)


def library_version(distribution: str) -> str:
    """``"python-engineio 4.15.1"``: the distribution and the version installed."""
    try:
        return f"{distribution} {version(distribution)}"
    except PackageNotFoundError:
        return f"{distribution} (version unknown)"


def method(
    owner: type, name: str, params: tuple[str, ...], *, coroutine: bool, label: str = ""
) -> list[str]:
    """``owner.name`` is a function (a coroutine function when ``coroutine``) whose parameters
    after ``self`` are named exactly ``params`` (``*args`` as ``"*args"``, ``**kwargs`` as
    ``"**kwargs"``). ``label`` names the owner in the problem (default: its own name)."""
    where = f"{label or owner.__name__}.{name}"
    fn = inspect.getattr_static(owner, name, None)
    if isinstance(fn, staticmethod | classmethod):
        fn = fn.__func__
    if not inspect.isfunction(fn):
        return [f"{where} is missing" if fn is None else f"{where} is not a method"]
    if coroutine and not inspect.iscoroutinefunction(fn):
        return [f"{where} is no longer a coroutine function"]
    if not coroutine and inspect.iscoroutinefunction(fn):
        return [f"{where} is now a coroutine function"]
    found = tuple(_spelled(p) for p in inspect.signature(fn).parameters.values())[1:]
    if found != params:
        return [f"{where} takes ({', '.join(found)}), not ({', '.join(params)})"]
    return []


def attributes(obj: Any, names: tuple[str, ...], *, label: str) -> list[str]:
    """``obj`` (an instance the library built) has every attribute in ``names``."""
    return [f"{label}.{name} is missing" for name in names if not hasattr(obj, name)]


def _spelled(param: inspect.Parameter) -> str:
    if param.kind is inspect.Parameter.VAR_POSITIONAL:
        return f"*{param.name}"
    if param.kind is inspect.Parameter.VAR_KEYWORD:
        return f"**{param.name}"
    return param.name
