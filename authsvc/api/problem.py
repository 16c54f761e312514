"""RFC 9457 problem details: the one shape of every error answer.

Each answer's ``code`` is an entry of ``authsvc.error_codes``: its status, ``title`` and ``hint`` (how to fix
it) come from the entry, and ``type`` is the code's own URI.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from authsvc.error_codes import Code
from authsvc.errors import AuthsvcError

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://authsvc.kz/problems/"
ERROR_CODE = web.ResponseKey("error_code", str)  # the answer's code, for the access log line
# One encoder for every answer: `json.dumps` with an option builds an encoder per call (≈ 2 µs of a 404's 10).
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


class FieldError(BaseModel):
    loc: str
    code: str
    message: str


class Problem(BaseModel):
    type: str = Field(description="the code's URI: " + TYPE_BASE + "<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine code (see the x-error-codes list of each answer)")
    hint: str | None = Field(default=None, description="how to fix it: the catalogue's sentence for the code")
    request_id: str | None = None
    errors: list[FieldError] | None = None


def type_uri(code: str) -> str:
    return TYPE_BASE + code


# Encoded problems without extras, by (code, detail): the text before the request id. Every refusal of one kind
# (a 404 read, a 401) is the same text up to its request id, so it is encoded once (≈ 3 µs of a 404's path).
_HEADS: dict[tuple[Code, str], str] = {}
_QUOTE = json.encoder.encode_basestring  # the encoder's quoting of a string (ensure_ascii=False), in C


def _body(code: Code, detail: str, request_id: str) -> bytes:
    """``_ENCODE`` of the problem with ``request_id`` last, from its (code, detail)'s encoded head."""
    head = _HEADS.get((code, detail))
    if head is None:
        if len(_HEADS) > 1_000:  # details that quote input: do not keep them all
            _HEADS.clear()
        encoded = _ENCODE(_fields(code, detail))
        head = _HEADS[(code, detail)] = encoded[:-1] + ', "request_id": '
    return (head + _QUOTE(request_id) + "}").encode()


def _fields(code: Code, detail: str) -> dict[str, Any]:
    return {
        "type": type_uri(code),
        "title": code.heading,
        "status": code.status,
        "detail": detail,
        "code": str(code),
        "hint": code.fix,
    }


def problem_response(code: Code, detail: str, *, request_id: str | None = None, **extra: Any) -> web.Response:
    if request_id and not extra:
        resp = web.Response(status=code.status, body=_body(code, detail, request_id), content_type=PROBLEM_TYPE)
        resp[ERROR_CODE] = str(code)
        return resp
    body = _fields(code, detail)
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = web.Response(status=code.status, body=_ENCODE(body).encode(), content_type=PROBLEM_TYPE)
    resp[ERROR_CODE] = str(code)
    return resp


def from_error(exc: AuthsvcError, request_id: str | None) -> web.Response:
    resp = problem_response(exc.code, exc.detail, request_id=request_id, **exc.extra)
    retry_after = getattr(exc, "retry_after", None)  # RateLimited, the store's Unavailable
    if retry_after is not None:
        resp.headers["Retry-After"] = str(retry_after)
    return resp
