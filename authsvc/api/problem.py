"""RFC 9457 problem details: the one shape of every error answer."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from authsvc.errors import AuthsvcError, RateLimited
from authsvc.store.errors import Unavailable

PROBLEM_TYPE = "application/problem+json"
TYPE_BASE = "https://authsvc.kz/problems/"


class FieldError(BaseModel):
    loc: str
    code: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="stable machine code")
    request_id: str | None = None
    errors: list[FieldError] | None = None


def problem_response(
    status: int, code: str, title: str, detail: str, *, request_id: str | None = None, **extra: Any
) -> web.Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return web.Response(status=status, body=json.dumps(body, ensure_ascii=False).encode(), content_type=PROBLEM_TYPE)


def from_error(exc: AuthsvcError, request_id: str | None) -> web.Response:
    resp = problem_response(exc.status, exc.code, exc.title, exc.detail, request_id=request_id, **exc.extra)
    if isinstance(exc, RateLimited | Unavailable):
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp
