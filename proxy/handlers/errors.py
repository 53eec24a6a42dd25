"""Errors a handler raises to refuse a request. :mod:`proxy.middlewares` maps these (and the
errors of the other packages) to HTTP answers, in one place. Messages name the field or
the kind of problem and the fix, never the content of the request."""

from __future__ import annotations

from proxy.errors import ChatwardenError


class ApiError(ChatwardenError):
    """A request refused with ``status``; ``code`` is a stable machine-readable label."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class InvalidField(ApiError):
    """A message field is missing or has the wrong type or shape (400)."""

    code = "invalid_field"


class MalformedBody(ApiError):
    """The body is not valid JSON/msgpack or not an object (400)."""

    code = "malformed_body"


class BodyTooLarge(ApiError):
    """The body is over ``[server] max_body_bytes`` (413)."""

    status = 413
    code = "body_too_large"


class UnsupportedMediaType(ApiError):
    """A Content-Type other than application/json or application/msgpack (415)."""

    status = 415
    code = "unsupported_media_type"


class Conflict(ApiError):
    """The request contradicts stored data (409), e.g. a conversation's region changed."""

    status = 409
    code = "conflict"


class Unavailable(ApiError):
    """Fail closed: a dependency (detection, storage, keys...) failed; nothing was stored
    or forwarded (503 + Retry-After). ``kind`` is the /metrics label."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, *, kind: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class Overloaded(Unavailable):
    """Admission control refused the request: too much work in flight (503)."""

    code = "overloaded"
