"""aiohttp's answer to a request its parser refuses, replaced by roomkey's own
(``http/bad_requests.py`` says what that answer is and why).

Parts of aiohttp's ``web_protocol.RequestHandler`` used here:

- ``handle_error(self, request, status=500, exc=None, message=None)``: a public name, but not
  documented; replaced on the class, once per process, by a function that hands parser errors
  (400 with an ``HttpProcessingError``) to roomkey's ``answer`` and everything else to
  aiohttp's own method;
- ``_request_handler`` (private): the application's handler, a bound method whose
  ``__self__`` is the ``web.Application`` (to find roomkey's runtime).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import HttpProcessingError

from roomkey._patches.shape import method

Answer = Callable[
    [web_protocol.RequestHandler, web.BaseRequest, HttpProcessingError], web.StreamResponse
]

MARK = "roomkey_answers_bad_requests"
_PARAMS = ("request", "status", "exc", "message")


def replace_handle_error(
    answer: Answer, handler_class: type[web_protocol.RequestHandler] = web_protocol.RequestHandler
) -> bool:
    """Send the parser errors of every aiohttp server of the process (``handler_class``:
    aiohttp's ``RequestHandler``) to ``answer`` (idempotent: the first ``answer`` stays).
    False, and nothing replaced, when ``handle_error`` is not of the shape expected."""
    cls = handler_class
    original = cls.__dict__.get("handle_error")
    if getattr(original, MARK, False):
        return True
    if original is None or shape_problems(cls):
        return False

    def handle_error(
        self: web_protocol.RequestHandler,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> Any:
        if status == 400 and isinstance(exc, HttpProcessingError):
            return answer(self, request, exc)
        return original(self, request, status, exc, message)

    setattr(handle_error, MARK, True)
    cls.handle_error = handle_error  # type: ignore[method-assign]
    return True


def application_of(protocol: web_protocol.RequestHandler) -> web.Application | None:
    """The application a server's connection serves, or None when that is not to be found
    (another aiohttp, or a server whose handler is not an application's)."""
    app = getattr(getattr(protocol, "_request_handler", None), "__self__", None)
    return app if isinstance(app, web.Application) else None


def shape_problems(handler_class: type) -> list[str]:
    """``handler_class`` (aiohttp's ``RequestHandler``) has ``handle_error`` as replaced here
    and keeps the application's handler in ``_request_handler``."""
    problems = method(handler_class, "handle_error", _PARAMS, coroutine=False)
    slots = {slot for klass in handler_class.__mro__ for slot in getattr(klass, "__slots__", ())}
    if "_request_handler" not in slots:
        problems.append(f"{handler_class.__name__}._request_handler is missing")
    return problems
