"""The service's one exception tree.

Every error a caller can cause has a stable machine ``code`` and an HTTP ``status``; the HTTP layer turns
them into RFC 9457 problem+json. Codes are entries of ``authsvc.error_codes`` (declared once, with their
status, title and fix): the answer's status is the code's, and a raise site passes a code whose status is its
class's (tests/test_error_codes.py checks every raise site). Classes also inherit the standard-library error
they resemble so code outside the service can catch them naturally.

    AuthsvcError
    ├── BadRequest (ValueError)            400  malformed_json, malformed_multipart, bad_idempotency_key, ...
    │   └── ValidationFailed               422  validation_failed, bad_base64, bad_checksum, bad_cms, ...
    ├── Unauthorized (PermissionError)     401  unauthorized
    ├── NotFound (LookupError)             404  not_found
    ├── Conflict                           409  duplicate_client, identification_closed, replay, ...
    ├── PayloadTooLarge                    413  body_too_large, capture_too_large, cdao_photo_too_large
    ├── UnsupportedMediaType               415  wrong_content_type, unsupported_media_type
    ├── RateLimited                        429  rate_limited (carries retry_after seconds)
    ├── UpstreamUnavailable (ConnectionError) 503  an outside party failed (timeout, 5xx, garbage)
    ├── ConfigError (RuntimeError)         500  misconfiguration found at start-up (never per request)
    └── RecordTampered (ValueError)        500  a sealed record failed authentication (altered in the database)

``BadRequest`` stays a ``ValueError`` (like aiohttp's and the standard library's trees), so no ``except
ValueError`` or ``except Exception`` in the service may stand without letting ``AuthsvcError`` through first
(checked by tests/test_error_codes.py).
"""

from __future__ import annotations

from typing import Any

from authsvc import error_codes
from authsvc.error_codes import Code


class AuthsvcError(Exception):
    """Root of every error the service raises on purpose."""

    status: int = 500
    code: Code = error_codes.INTERNAL_ERROR
    title: str = "Internal error"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code.status != cls.status:  # a class's default code answers the class's status
            raise TypeError(f"{cls.__name__}: code {cls.code!r} is {cls.code.status}, the class {cls.status}")

    def __init__(self, detail: str, *, code: Code | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            # A plain string (from code outside the service) must still name a catalogue entry.
            self.code = code if isinstance(code, Code) else error_codes.lookup(code)
        # The answer's status, title and hint are the code's: one code, one status.
        self.status = self.code.status
        self.title = self.code.heading
        # Extra members go into the problem document (e.g. ``errors`` for field-level reasons).
        self.extra: dict[str, Any] = extra


class BadRequest(AuthsvcError, ValueError):
    status = 400
    code = error_codes.BAD_REQUEST
    title = "Bad request"


class ValidationFailed(BadRequest):
    status = 422
    code = error_codes.VALIDATION_FAILED
    title = "Validation failed"


class Unauthorized(AuthsvcError, PermissionError):
    status = 401
    code = error_codes.UNAUTHORIZED
    title = "Unauthorized"


class NotFound(AuthsvcError, LookupError):
    status = 404
    code = error_codes.NOT_FOUND
    title = "Not found"


class Conflict(AuthsvcError):
    status = 409
    code = error_codes.CONFLICT
    title = "Conflict"


class PayloadTooLarge(AuthsvcError):
    status = 413
    code = error_codes.BODY_TOO_LARGE
    title = "Payload too large"


class UnsupportedMediaType(AuthsvcError):
    status = 415
    code = error_codes.UNSUPPORTED_MEDIA_TYPE
    title = "Unsupported media type"


class RateLimited(AuthsvcError):
    status = 429
    code = error_codes.RATE_LIMITED
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, code: Code | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class UpstreamUnavailable(AuthsvcError, ConnectionError):
    status = 503
    code = error_codes.UPSTREAM_UNAVAILABLE
    title = "Upstream service unavailable"


class ConfigError(AuthsvcError, RuntimeError):
    status = 500
    code = error_codes.CONFIG_ERROR
    title = "Configuration error"


class RecordTampered(AuthsvcError, ValueError):
    """A sealed record (envelope encryption) failed authentication: it was altered where it is stored."""

    status = 500
    code = error_codes.RECORD_TAMPERED
    title = "Stored record failed authentication"


_BY_STATUS: dict[int, type[AuthsvcError]] = {
    400: BadRequest,
    401: Unauthorized,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    503: UpstreamUnavailable,
}


def error_for(code: Code, detail: str, **extra: Any) -> AuthsvcError:
    """The error of the tree's class for ``code``'s status, for codes chosen at run time (e.g. by liveness/)."""
    return _BY_STATUS.get(code.status, AuthsvcError)(detail, code=code, **extra)
