"""Requests aiohttp cannot parse: answered with roomkey's own error, logged as one line.

aiohttp answers a request its parser refuses (a header or request line over 8190 bytes, a
control character in a header, a malformed request line or URL) from
``RequestHandler.handle_error``: the body is the parser's message and the line logged on
``aiohttp.server`` carries its traceback. Both quote up to 100 bytes of the offending line:
a ``Cookie`` header's session id, a bearer token's header and claims.

``install`` wraps that method, once per process: a parser error is answered 400 with
``{"error": {"code": 4300, "message"}}`` naming only what kind of line was wrong, and
logged as ``refused http request`` (``reason`` ``header_too_large`` or ``malformed_http``,
flood-controlled, and counted when the application is roomkey's). Any other error (a
handler's exception: 500; a timeout: 504) goes to aiohttp's method unchanged.

This replaces a method of aiohttp's ``RequestHandler`` (public name, undocumented) and reads
its private ``_request_handler`` (the application's handler, to find roomkey's runtime). Both
are checked for the shape expected; if aiohttp changes them, nothing is replaced (aiohttp
answers as before; ``SafeRecords`` still keeps the header out of the logs) or the refusal is
logged without being counted. tests/unit/test_logs.py pins that the shape holds.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import (
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)

from roomkey.core.errors import BadRequest
from roomkey.http.context import RUNTIME, error_response
from roomkey.logs import log_event
from roomkey.runtime import Runtime

log = logging.getLogger("roomkey.http")

_MARK = "roomkey_answers_bad_requests"
_SHAPE = ["self", "request", "status", "exc", "message"]


def refusal(exc: HttpProcessingError) -> BadRequest:
    """What roomkey tells the client: the kind of line that was wrong, never its bytes."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        size = f" over {limit} bytes" if limit else " too long"
        return BadRequest(
            f"malformed HTTP request: the request line or a header is{size}",
            reason="header_too_large",
        )
    if isinstance(exc, InvalidURLError):
        what = "the URL is not valid"
    elif isinstance(exc, BadStatusLine):
        what = "the request line is not valid"
    elif isinstance(exc, InvalidHeader):
        what = "a header is not valid"
    else:
        what = "it could not be parsed"
    return BadRequest(f"malformed HTTP request: {what}", reason="malformed_http")


def _runtime(protocol: web_protocol.RequestHandler) -> Runtime | None:
    """roomkey's runtime when the server's application is roomkey's (or has roomkey set up
    in it), else None."""
    app = getattr(getattr(protocol, "_request_handler", None), "__self__", None)
    return app.get(RUNTIME) if isinstance(app, web.Application) else None


def answer(
    protocol: web_protocol.RequestHandler, request: web.BaseRequest, exc: HttpProcessingError
) -> web.Response:
    """The response to a request the parser refused; one refusal line (flood-controlled),
    counted in the metrics when the application is roomkey's."""
    if request.writer.output_size > 0:  # as aiohttp: nothing more can be said
        raise ConnectionError("a response was already sent: no error response possible")
    refused = refusal(exc)
    address = request.remote or ""
    rt = _runtime(protocol)
    if rt is not None:
        rt.log_refusal("http request", refused, address=address)
    else:
        log_event(
            log,
            logging.INFO,
            "refused http request",
            repeat_key=f"http request:{refused.code}:{refused.reason}",
            code=refused.code,
            reason=refused.reason,
            detail=refused.message,
            address=address,
        )
    response = error_response(refused)
    response.force_close()
    return response


def install() -> bool:
    """Answer parser errors with roomkey's own error, for every aiohttp server of the
    process (idempotent). False when aiohttp's ``handle_error`` is not of the shape expected:
    nothing is replaced then."""
    cls = web_protocol.RequestHandler
    original = cls.__dict__.get("handle_error")
    if getattr(original, _MARK, False):
        return True
    if original is None or list(inspect.signature(original).parameters) != _SHAPE:
        log.warning(
            "aiohttp's RequestHandler.handle_error changed: malformed requests are answered by aiohttp"
        )
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

    setattr(handle_error, _MARK, True)
    cls.handle_error = handle_error  # type: ignore[method-assign]
    return True
