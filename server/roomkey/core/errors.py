"""One exception tree for everything a client, an app server or an operator can get wrong.

Every error carries the Pusher error code used on the sockets (``code``) and the HTTP status
used by the HTTP edges (``status``). The edges never invent codes: they format these.

Pusher's ranges: 4000-4099 the client must not reconnect, 4100-4199 reconnect with back-off,
4200-4299 reconnect at once, 4300+ anything else. roomkey uses 4300 for a malformed request
that leaves the connection open (the message names what was wrong).
"""

from __future__ import annotations

from typing import Any


class RoomkeyError(Exception):
    """Base of every error roomkey reports to a client. ``message`` is safe to show and log."""

    code: int = 4300
    status: int = 400
    reason: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if reason is not None:
            self.reason = reason

    def as_dict(self) -> dict[str, Any]:
        """The wire form shared by both transports and the HTTP edges: ``{"code", "message"}``."""
        return {"code": self.code, "message": self.message}


class BadRequest(RoomkeyError):
    """Malformed input: wrong type, bad name, missing field. Nothing changed."""

    code = 4300
    status = 400
    reason = "bad_request"


class Unauthorized(RoomkeyError):
    """Missing or bad signature, missing or bad identity (HTTP 401, Pusher 4009)."""

    code = 4009
    status = 401
    reason = "unauthorized"


class Forbidden(RoomkeyError):
    """The identity is fine but the channel policy says no (HTTP 403, Pusher 4009)."""

    code = 4009
    status = 403
    reason = "forbidden"


class UnknownApp(RoomkeyError):
    """No app with that key or id (Pusher 4001). Over HTTP it is a credential problem: 401."""

    code = 4001
    status = 401
    reason = "unknown_app"


class OverQuota(RoomkeyError):
    """The app is over its connection quota (Pusher 4004)."""

    code = 4004
    status = 429
    reason = "over_quota"


class LimitExceeded(RoomkeyError):
    """A count limit (channels per connection, members per channel, channels per trigger)."""

    code = 4100
    status = 400
    reason = "over_limit"


class PayloadTooLarge(RoomkeyError):
    """A size limit (event data, user_info, request body) (HTTP 413, Pusher 4100)."""

    code = 4100
    status = 413
    reason = "too_large"


class RateLimited(RoomkeyError):
    """Too many requests in a window; ``retry_after`` is in seconds (HTTP 429)."""

    code = 4100
    status = 429
    reason = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: float = 1.0, code: int | None = None, limit: str = ""
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.limit = limit  # which limit (the rate_limits setting's name), for metrics


class ClientEventRejected(RoomkeyError):
    """A client event that is not allowed or over its rate (Pusher 4301)."""

    code = 4301
    status = 403
    reason = "client_event_rejected"


class MethodNotAllowed(RoomkeyError):
    code = 4300
    status = 405
    reason = "method_not_allowed"


class ServiceUnavailable(RoomkeyError):
    """A dependency (the broker, Redis) cannot be reached; nothing was published (HTTP 503)."""

    code = 4200
    status = 503
    reason = "unavailable"


class IdentityUnavailable(ServiceUnavailable):
    """The app's identity endpoint (``[identity.app]``) gave no usable answer: it timed out,
    refused the connection, redirected, failed (5xx or another status) or answered something
    that is not ``{"user_id", "user_info"}``. roomkey fails closed: no identity, HTTP 503,
    Pusher 4200. ``cause`` says which (``timeout``, ``unreachable``, ``redirect``, ``status``,
    ``bad_answer``), for the ``roomkey_identity_refusals_total`` metric."""

    reason = "identity_unavailable"

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class BackendError(RoomkeyError):
    """A dependency (Redis) answered with an error that no retry can fix: a key of the wrong
    type, a command the ACL refuses, a failing script. A bug or a misconfiguration, not an
    outage, so not 4200 (reconnecting would only repeat it): Pusher's "other" range and HTTP
    500; ``/readyz`` stays ready (Redis answers). The message names the command and the kind
    of answer (``WRONGTYPE``, ``NOPERM``, ...), never a key or a value."""

    code = 4300
    status = 500
    reason = "backend_error"


class SlowConsumer(RoomkeyError):
    """The client stopped reading and its outbound buffer overflowed (Pusher 4100: back off,
    then reconnect). Sent as the last message before the server drops the socket."""

    code = 4100
    status = 503
    reason = "slow_consumer"


class RequestTimeout(RoomkeyError):
    """An HTTP request whose body did not all arrive within
    ``server.request_body_timeout_seconds`` (HTTP 408, Pusher 4100: a time limit, so back
    off). The edge answers and closes the connection: the rest of the body is never waited
    for."""

    code = 4100
    status = 408
    reason = "request_timeout"
