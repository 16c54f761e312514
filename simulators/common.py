"""What every outside-party simulator shares: fault injection, a request log, optional API-key auth,
JSON error bodies and the command-line runner.

Fault injection (the same admin API on every simulator)::

    POST   /admin/faults   {"kind": "timeout" | "error" | "malformed" | "bad_shape" | "slow" | "disconnect",
                            "count": K (default 1; null = until cleared), "delay_ms": N,
                            "status": 503, "path": "/v1/..." (prefix; default every non-admin path)}
                           -> 201 {"id": ...}
    GET    /admin/faults   -> {"faults": [...]}           DELETE /admin/faults -> 204 (clear all)
    GET    /admin/requests -> {"requests": [{"method", "path", "fault"}]}   every non-admin call, in order
    DELETE /admin/requests -> 204

Kinds: ``timeout`` holds the request for ``delay_ms`` (default 30 s, released at shutdown) and then
answers 504; ``error`` answers ``status`` (default 503) with a JSON error; ``malformed`` answers 200
with a truncated JSON body; ``bad_shape`` answers 200 with well-formed JSON of the wrong shape;
``slow`` waits ``delay_ms`` and then answers normally; ``disconnect`` drops the connection unanswered.
Each matching call uses up one of the fault's ``count``. Admin paths are never faulted.

Errors from the simulators look like ``{"error": {"code": "...", "message": "..."}}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal, cast

from aiohttp import web

FaultKind = Literal["timeout", "error", "malformed", "bad_shape", "slow", "disconnect"]
FAULT_KINDS: Final = ("timeout", "error", "malformed", "bad_shape", "slow", "disconnect")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    id: int
    kind: FaultKind
    count: int | None = 1
    delay_ms: int = 0
    status: int = 503
    path: str = ""


@dataclass
class FaultBoard:
    """The faults armed on one simulator, and the log of the calls it received."""

    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def arm(self, kind: FaultKind, **options: Any) -> Fault:
        fault = Fault(id=next(self._ids), kind=kind, **options)
        self.faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        for fault in self.faults:
            if path.startswith(fault.path) and (fault.count is None or fault.count > 0):
                if fault.count is not None:
                    fault.count -= 1
                return fault
        return None


FAULTS: Final = web.AppKey("faults", FaultBoard)
API_KEY: Final = web.AppKey("api_key", str)


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


class JsonError(Exception):
    """Raised in a handler to answer a JSON error (caught by :func:`errors_middleware`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, or a 400 ``malformed_json``."""
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JsonError(400, "malformed_json", "the body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise JsonError(400, "malformed_json", "the body must be a JSON object")
    return cast(dict[str, Any], body)


def require_str(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise JsonError(400, "missing_field", f"'{name}' must be a non-empty string")
    return value


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except JsonError as exc:
        return json_error(exc.status, exc.code, exc.message)


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/admin/"):
        return await handler(request)
    board = request.app[FAULTS]
    fault = board.take(request.path)
    board.requests.append({"method": request.method, "path": request.path, "fault": fault.kind if fault else None})
    if fault is None:
        return await handler(request)
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay_ms / 1000)
        return await handler(request)
    if fault.kind == "timeout":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(board.released.wait(), (fault.delay_ms or 30_000) / 1000)
        return json_error(504, "timeout", "injected timeout")
    if fault.kind == "error":
        return json_error(fault.status, "injected_fault", f"injected {fault.status}")
    if fault.kind == "malformed":
        return web.Response(status=200, text='{"truncated": [1, 2', content_type="application/json")
    if fault.kind == "bad_shape":
        return web.json_response({"unexpected": "shape", "items": [1, 2, 3]})
    # disconnect: close the socket without an answer; the client sees the server hang up.
    if request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError


@web.middleware
async def api_key_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.app.get(API_KEY)
    if key and not request.path.startswith("/admin/"):
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, f"Bearer {key}".encode()):
            return json_error(401, "unauthorized", "missing or wrong API key")
    return await handler(request)


async def _arm_fault(request: web.Request) -> web.Response:
    body = await read_json(request)
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise JsonError(400, "bad_fault", f"kind must be one of {', '.join(FAULT_KINDS)}")
    options: dict[str, Any] = {}
    for name, kinds in (("count", (int, type(None))), ("delay_ms", (int,)), ("status", (int,)), ("path", (str,))):
        if name in body:
            if not isinstance(body[name], kinds) or isinstance(body[name], bool):
                raise JsonError(400, "bad_fault", f"'{name}' has the wrong type")
            options[name] = body[name]
    fault = request.app[FAULTS].arm(cast(FaultKind, kind), **options)
    return web.json_response(asdict(fault), status=201)


async def _list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [asdict(f) for f in request.app[FAULTS].faults]})


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[FAULTS].faults.clear()
    return web.Response(status=204)


async def _list_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": request.app[FAULTS].requests})


async def _clear_requests(request: web.Request) -> web.Response:
    request.app[FAULTS].requests.clear()
    return web.Response(status=204)


async def _release_hung(app: web.Application) -> None:
    app[FAULTS].released.set()


def make_app(api_key: str | None = None, *, client_max_size: int = 1024**2) -> web.Application:
    """A simulator application with the shared middlewares and admin routes in place."""
    app = web.Application(
        middlewares=[errors_middleware, fault_middleware, api_key_middleware], client_max_size=client_max_size
    )
    app[FAULTS] = FaultBoard()
    if api_key:
        app[API_KEY] = api_key
    app.router.add_post("/admin/faults", _arm_fault)
    app.router.add_get("/admin/faults", _list_faults)
    app.router.add_delete("/admin/faults", _clear_faults)
    app.router.add_get("/admin/requests", _list_requests)
    app.router.add_delete("/admin/requests", _clear_requests)
    app.on_shutdown.append(_release_hung)
    return app


def base_parser(description: str, default_port: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' when set")
    return parser


def serve(app: web.Application, host: str, port: int) -> None:
    web.run_app(app, host=host, port=port, print=lambda msg: print(msg, flush=True))
