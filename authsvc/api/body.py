"""Reading a JSON request body into a model: content type, size, syntax, fields — each with its own code."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from authsvc import error_codes
from authsvc.api.state import SETTINGS
from authsvc.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType, ValidationFailed

T = TypeVar("T")

# pydantic's error types that mean something specific to a caller.
_CODES = {"extra_forbidden": "unknown_field", "missing": "missing_field", "json_invalid": "malformed_json"}
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(model: Any) -> TypeAdapter[Any]:
    if model not in _ADAPTERS:
        _ADAPTERS[model] = TypeAdapter(model)
    return _ADAPTERS[model]


async def read_body(request: web.Request) -> bytes:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            f"send the body as application/json (got {request.content_type or 'none'})",
            code=error_codes.WRONG_CONTENT_TYPE,
        )
    return await read_raw(request)


async def read_raw(request: web.Request) -> bytes:
    """The body whatever its type (aiohttp keeps it, so a handler may read it again)."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"request body exceeds {request.app[SETTINGS].server.max_body_bytes} bytes", code=error_codes.BODY_TOO_LARGE
        ) from exc


def _integral_floats_as_ints(raw: bytes) -> bytes | None:
    """JSON (and JSON Schema) counts ``1.0`` as the integer 1; pydantic's strict mode does not. The document
    with such numbers written as integers, or None when it has none (so a retry cannot loop)."""
    found = False

    def number(text: str) -> int | float:
        nonlocal found
        value = float(text)
        if value.is_integer() and abs(value) < 2**63:
            found = True
            return int(value)
        return value

    try:
        data = json.loads(raw, parse_float=number)
    except ValueError:
        return None
    return json.dumps(data).encode() if found else None


def parse(model: type[T] | Any, raw: bytes, context: dict[str, Any] | None = None) -> T:
    """Validate ``raw`` JSON against ``model``; raises BadRequest/ValidationFailed with stable codes."""
    try:
        result: T = _adapter(model).validate_json(raw, strict=True, context=context or {})
        return result
    except ValidationError as exc:
        whole = _integral_floats_as_ints(raw) if any(e["type"] == "int_type" for e in exc.errors()) else None
        if whole is not None:
            again: T = parse(model, whole, context)
            return again
        errors = [
            {
                "loc": ".".join(str(p) for p in e["loc"]) or "body",
                "code": _CODES.get(e["type"], e["type"]),
                "message": e["msg"],
            }
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        if any(e["code"] == "malformed_json" for e in errors):
            raise BadRequest("request body is not valid JSON", code=error_codes.MALFORMED_JSON) from exc
        # One reason shared by every field error names the whole answer when the catalogue has it (a 422
        # code); pydantic's own types (string_too_short, ...) stay field-level, under validation_failed.
        codes = {e["code"] for e in errors}
        only = error_codes.CATALOGUE.get(codes.pop()) if len(codes) == 1 else None
        code = only if only is not None and only.status == 422 else error_codes.VALIDATION_FAILED
        summary = "; ".join(f"{e['loc']}: {e['message']}" for e in errors[:5])
        raise ValidationFailed(summary, code=code, errors=errors) from exc
