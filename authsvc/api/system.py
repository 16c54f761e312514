"""Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from authsvc import __version__
from authsvc.api.routing import Operation, Operations
from authsvc.api.state import DB, KEYS, OPERATIONS, PROMETHEUS, READINESS


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, bool]
    reasons: dict[str, str] = {}  # why a check is not ready, by check name


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks = {"database": False, "keys": False}
    try:
        async with request.app[DB].autocommit() as tx:
            await tx.scalar(text("SELECT 1"))
        checks["database"] = True
    except Exception:  # any failure means "not ready", never an error answer
        checks["database"] = False
    reasons: dict[str, str] = {}
    try:
        request.app[KEYS].index_mac("readiness", "probe")
        checks["keys"] = True
    except Exception as exc:  # e.g. the HSM token is gone (KeyStoreUnavailable): say why
        checks["keys"] = False
        reasons["keys"] = str(getattr(exc, "detail", type(exc).__name__))
    for name, check in request.app[READINESS].items():
        outcome = check()  # True, False, or why not (a str)
        checks[name] = outcome is True
        if isinstance(outcome, str):
            reasons[name] = outcome
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks, "reasons": reasons},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[PROMETHEUS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPERATIONS].openapi(title="authsvc", version=__version__))


def register(ops: Operations) -> None:
    ops.add(
        Operation(
            "GET",
            "/healthz",
            healthz,
            "healthz",
            "Liveness of the process",
            responses={200: Health},
            auth=False,
            tags=("system",),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/readyz",
            readyz,
            "readyz",
            "Readiness: database, keys, trust store",
            responses={200: Readiness, 503: Readiness},
            auth=False,
            tags=("system",),
        )
    )
    ops.add(
        Operation(
            "GET",
            "/metrics",
            metrics,
            "metrics",
            "Prometheus metrics",
            auth=False,
            tags=("system",),
            raw_responses={
                200: {
                    "description": "Prometheus text format",
                    "content": {
                        "text/plain": {
                            "schema": {"type": "string"},
                            "example": "# HELP authsvc_http_requests_total HTTP requests by route and status\n"
                            "# TYPE authsvc_http_requests_total counter\n"
                            'authsvc_http_requests_total{method="POST",route="/v1/clients",status="201"} 42.0\n',
                        }
                    },
                }
            },
        )
    )
    ops.add(
        Operation(
            "GET",
            "/openapi.json",
            openapi,
            "openapi",
            "This OpenAPI 3.1 document",
            auth=False,
            tags=("system",),
            raw_responses={
                200: {
                    "description": "OpenAPI document",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object"},
                            "example": {"openapi": "3.1.0", "info": {"title": "authsvc", "version": __version__}},
                        }
                    },
                }
            },
        )
    )
