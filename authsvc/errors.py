"""The service's one exception tree.

Every error a caller can cause has a stable machine ``code`` and an HTTP ``status``; the HTTP layer turns
them into RFC 9457 problem+json. Classes also inherit the standard-library error they resemble so code
outside the service can catch them naturally.

    AuthsvcError
    ├── BadRequest (ValueError)            400  malformed_json, bad_base64, wrong_content_type, ...
    │   └── ValidationFailed               422  validation_failed, bad_checksum, iin_immutable, ...
    ├── Unauthorized (PermissionError)     401  unauthorized
    ├── NotFound (LookupError)             404  not_found
    ├── Conflict                           409  duplicate_client, idempotency_conflict, replay, ...
    ├── PayloadTooLarge                    413  body_too_large, file_too_large
    ├── UnsupportedMediaType               415  unsupported_media_type
    ├── RateLimited                        429  rate_limited (carries retry_after seconds)
    ├── UpstreamUnavailable (ConnectionError) 503  an outside party failed (timeout, 5xx, garbage)
    └── ConfigError (RuntimeError)         500  misconfiguration found at start-up (never per request)
"""

from __future__ import annotations

from typing import Any


class AuthsvcError(Exception):
    """Root of every error the service raises on purpose."""

    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        # Extra members go into the problem document (e.g. ``errors`` for field-level reasons).
        self.extra: dict[str, Any] = extra


class BadRequest(AuthsvcError, ValueError):
    status = 400
    code = "bad_request"
    title = "Bad request"


class ValidationFailed(BadRequest):
    status = 422
    code = "validation_failed"
    title = "Validation failed"


class Unauthorized(AuthsvcError, PermissionError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class NotFound(AuthsvcError, LookupError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(AuthsvcError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(AuthsvcError):
    status = 413
    code = "body_too_large"
    title = "Payload too large"


class UnsupportedMediaType(AuthsvcError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class RateLimited(AuthsvcError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class UpstreamUnavailable(AuthsvcError, ConnectionError):
    status = 503
    code = "upstream_unavailable"
    title = "Upstream service unavailable"


class ConfigError(AuthsvcError, RuntimeError):
    status = 500
    code = "config_error"
    title = "Configuration error"
