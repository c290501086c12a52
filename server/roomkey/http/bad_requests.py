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

How aiohttp's ``RequestHandler.handle_error`` is replaced, with the private part it reads, is
fenced in ``roomkey._patches.aiohttp_errors``; if aiohttp changes that shape, nothing is
replaced (aiohttp answers as before; ``SafeRecords`` still keeps the header out of the logs)
and roomkey says so once at start-up. The tests pin that the shape holds.
"""

from __future__ import annotations

import logging

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import (
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)

from roomkey._patches import aiohttp_errors
from roomkey.core.errors import BadRequest
from roomkey.logs import log_event
from roomkey.refusals import error_response
from roomkey.runtime import RUNTIME, Runtime

log = logging.getLogger("roomkey.http")


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
    app = aiohttp_errors.application_of(protocol)
    return app.get(RUNTIME) if app is not None else None


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
    nothing is replaced then (``roomkey._patches.install`` warns about it)."""
    return aiohttp_errors.replace_handle_error(answer)
