"""Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from sqlalchemy import text

from authsvc import __version__
from authsvc import metrics as business
from authsvc.api.routing import Operation, Operations
from authsvc.api.state import DB, EXECUTOR, KEYS, OPERATIONS, PROMETHEUS, READINESS
from authsvc.errors import AuthsvcError
from authsvc.pool import RenewingPool
from authsvc.store import rotation


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, bool] = Field(description="each component: database, keys, process_pool, trust, revocation")
    reasons: dict[str, str] = Field({}, description="why each component that is not ready is not, by its name")
    notes: dict[str, str] = Field(
        {}, description="work under way that does not make the service unready (keys_rewrap: after a key rotation)"
    )


DATABASE_PROBE_S = 2.0  # a database that does not answer a SELECT 1 in this long is not ready


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _database(app: web.Application) -> bool | str:
    try:
        async with asyncio.timeout(DATABASE_PROBE_S):
            async with app[DB].autocommit() as tx:
                await tx.scalar(text("SELECT 1"))
    except TimeoutError:
        return f"no answer to SELECT 1 within {DATABASE_PROBE_S:g} s"
    except Exception as exc:  # any failure means "not ready", never an error answer: say which
        return _why(exc)
    return True


async def _keys(app: web.Application) -> bool | str:
    try:
        await app[KEYS].aindex_mac("readiness", "probe")  # reaches the device (on its thread) where there is one
    except Exception as exc:  # e.g. the HSM token is gone (KeyStoreUnavailable)
        return _why(exc)
    return True


def _process_pool(app: web.Application) -> bool | str:
    # A pool whose worker died abruptly refuses all further work (CPython marks it broken for good) until
    # the next submission renews it (`authsvc.pool`): not ready in between.
    executor = app[EXECUTOR]
    broken = executor.broken if isinstance(executor, RenewingPool) else getattr(executor, "_broken", False)
    return f"the process pool is broken: {broken}" if broken else True


def _why(exc: BaseException) -> str:
    """An error as a reason: its code and detail when it is ours, else its type (a driver's message may quote
    connection details)."""
    cause = f" ({type(exc.__cause__).__name__})" if exc.__cause__ is not None else ""
    if isinstance(exc, AuthsvcError):
        return f"{exc.code}: {exc.detail}{cause}"
    return type(exc).__name__ + cause


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    outcomes: dict[str, bool | str] = {"database": await _database(app), "keys": await _keys(app)}
    if EXECUTOR in app:
        outcomes["process_pool"] = _process_pool(app)
    for name, check in app[READINESS].items():
        outcomes[name] = check()  # True, False, or why not (a str)
    checks = {name: outcome is True for name, outcome in outcomes.items()}
    reasons = {
        name: outcome if isinstance(outcome, str) else f"the {name} check failed"
        for name, outcome in outcomes.items()
        if outcome is not True
    }
    ready = all(checks.values())
    notes = {"keys_rewrap": note} if (note := rotation.STATUS.note()) else {}
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks, "reasons": reasons, "notes": notes},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    # The app's own (HTTP, CRL gauges), then the business metrics the layers below record (authsvc.metrics).
    body = generate_latest(request.app[PROMETHEUS]) + generate_latest(business.REGISTRY)
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
            "Readiness: database, keys, process pool, trust store, revocation sources, each with a reason when not ready",
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
