"""The request context middleware (id, metrics, access log, errors → problem+json), and inside it, on /v1, the
failed-authentication throttle by source, lender authentication and the per-lender rate limit."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString
from sqlalchemy.exc import SQLAlchemyError

from authsvc import error_codes
from authsvc.api.auth_failures import AuthFailures
from authsvc.api.problem import ERROR_CODE, from_error, problem_response
from authsvc.api.rate_limiter import RateLimiter
from authsvc.api.state import SETTINGS
from authsvc.errors import AuthsvcError, RateLimited, Unauthorized
from authsvc.logs import info_line, request_id_var
from authsvc.store import lenders
from authsvc.store.db import DRIVER_ERRORS, Database

DATABASE_ERRORS: tuple[type[Exception], ...] = (SQLAlchemyError, *DRIVER_ERRORS)

log = logging.getLogger("authsvc.http")
LENDER = web.RequestKey("lender", lenders.Lender)
_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class HttpMetrics:
    """Requests by method, route and status, and their latency by method and route: the exposition of a
    prometheus_client `Counter` and `Histogram` of these names (`tests/api/test_http_metrics.py` compares them),
    counted in plain numbers. Every request records one of each, on the event loop's one thread, where
    prometheus_client takes a lock per increment and walks the buckets in Python (≈ 5 µs a request)."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf"))
    _LE = tuple(floatToGoString(b) for b in BUCKETS)  # type: ignore[no-untyped-call]  # "1.0", "+Inf"

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counted: dict[tuple[str, str, int], list[float]] = {}  # -> [count, created]
        self._timed: dict[tuple[str, str], list[float]] = {}  # -> [count per bucket…, sum, created]
        registry.register(self)

    def exposed_in(self, registry: CollectorRegistry) -> HttpMetrics:
        """These same counters, exposed in ``registry`` too (a reloaded application's, `authsvc.app`)."""
        registry.register(self)
        return self

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self._counted[(method, route, status)] = [0.0, time.time()]
        counted[0] += 1
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[(method, route)] = [0.0] * len(self.BUCKETS) + [0.0, time.time()]
        timed[bisect.bisect_left(self.BUCKETS, seconds)] += 1  # the first bucket whose bound is >= seconds
        timed[-2] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "authsvc_http_requests", "HTTP requests by route and status", labels=["method", "route", "status"]
        )
        for (method, route, status), (count, created) in list(self._counted.items()):
            requests.add_metric([method, route, str(status)], count, created=created)
        yield requests
        latency = HistogramMetricFamily(
            "authsvc_http_request_duration_seconds", "HTTP request latency by route", labels=["method", "route"]
        )
        for (method, route), timed in list(self._timed.items()):
            cumulative = list(itertools.accumulate(timed[: len(self.BUCKETS)]))
            latency.add_metric([method, route], list(zip(self._LE, cumulative, strict=True)), timed[-2])
            latency.add_sample(latency.name + "_created", {"method": method, "route": route}, timed[-1])
        yield latency


METRICS = web.AppKey("http_metrics", HttpMetrics)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)
# Keyed by identification: the hosted page's document check, which needs no lender key but costs a decode.
HOSTED_DOCUMENT_LIMITER = web.AppKey("hosted_document_limiter", RateLimiter)


# What the metrics and the log say of a request whose client went away before its answer (nginx's 499):
# nobody receives the answer, and it is neither an outage nor the client's mistake.
CLIENT_CLOSED = 499


class _RequestIds:
    """Request ids unique across processes and restarts without a random read per request: a random prefix per
    process (drawn again in a forked child) and a counter (32 hex digits, as a UUID's)."""

    def __init__(self) -> None:
        self.renew()
        os.register_at_fork(after_in_child=self.renew)

    def renew(self) -> None:
        self.prefix, self.counter = secrets.token_hex(8), itertools.count()

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_request_id = _RequestIds()


def _client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    supplied = request.headers.get("X-Request-Id", "")
    rid = supplied if _RID.match(supplied) else _request_id()
    token = request_id_var.set(rid)
    started = time.perf_counter()
    try:
        try:
            # Authentication is called here, not as a middleware of its own: each aiohttp layer is one more
            # wrapper call and coroutine per request.
            if request.path.startswith("/v1/"):
                response: web.StreamResponse = await authenticated(request, handler)
            else:
                response = await handler(request)
        except AuthsvcError as exc:
            response = from_error(exc, rid)
        except web.HTTPException as exc:
            response = _http_problem(exc, rid)
        except DATABASE_ERRORS as exc:
            if isinstance(exc, ConnectionError) and _client_gone(request):
                # The client hung up (mid-body, say): aiohttp's ConnectionResetError, not the database's.
                log.info("client closed the connection", extra={"request_id": rid, "route": _route(request)})
                response = web.Response(status=CLIENT_CLOSED)
            else:
                log.exception("database error")
                response = problem_response(
                    error_codes.DATABASE_UNAVAILABLE, "the database did not answer; retry", request_id=rid
                )
                response.headers["Retry-After"] = "1"
        except Exception:
            log.exception("unhandled error")
            response = problem_response(error_codes.INTERNAL_ERROR, "unexpected error; it was logged", request_id=rid)
        response.headers["X-Request-Id"] = rid
        elapsed = time.perf_counter() - started
        route = _route(request)
        request.app[METRICS].record(request.method, route, response.status, elapsed)
        if log.isEnabledFor(logging.INFO):
            # The access line: who asked (the lender, once authenticated), what, the answer and its code.
            fields = {
                "request_id": rid,
                "method": request.method,
                "route": route,
                "status": response.status,
                "duration_ms": round(elapsed * 1000, 2),
            }
            lender = request.get(LENDER)
            if lender is not None:
                fields["lender_id"] = lender.id
            code = response.get(ERROR_CODE)
            if code is not None:
                fields["code"] = code
            info_line(log, "request", fields)
        return response
    finally:
        request_id_var.reset(token)


_HTTP_CODES = {
    400: error_codes.BAD_REQUEST,
    404: error_codes.NOT_FOUND,
    405: error_codes.METHOD_NOT_ALLOWED,
    413: error_codes.BODY_TOO_LARGE,
}


def _http_problem(exc: web.HTTPException, rid: str) -> web.Response:
    # aiohttp raises only these here; any other is answered under one generic code (one code, one status).
    code = _HTTP_CODES.get(exc.status, error_codes.HTTP_ERROR if exc.status < 500 else error_codes.INTERNAL_ERROR)
    resp = problem_response(code, exc.reason, request_id=rid)
    if exc.status == 405 and "Allow" in exc.headers:
        resp.headers["Allow"] = exc.headers["Allow"]
    return resp


class LenderCache:
    """Lenders by API key, remembered for ``ttl_s`` (0: not at all) so most requests skip the database."""

    def __init__(self, db: Database, ttl_s: float) -> None:
        self.db, self.ttl_s = db, ttl_s
        self.cache: dict[str, tuple[float, lenders.Lender]] = {}  # key -> (expires, lender)
        self.lookups: dict[str, asyncio.Future[lenders.Lender | None]] = {}  # in flight
        self.succeeded: set[str] = set()  # keys that authenticated, whatever ttl_s (the throttle lets them by)

    async def lender_for(self, api_key: str) -> lenders.Lender | None:
        cached = self.cache.get(api_key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]  # frozen: shared by the requests
        # One look-up per key at a time: when a cached key expires under load, every request in flight would
        # otherwise queue its own query on the database (0.6 s stalls on SQLite's one connection).
        lookup = self.lookups.get(api_key)
        if lookup is None:
            lookup = self.lookups[api_key] = asyncio.ensure_future(self._look_up(api_key))
            lookup.add_done_callback(lambda _: self.lookups.pop(api_key, None))
        return await asyncio.shield(lookup)

    def known(self, api_key: str) -> bool:
        """The key authenticated in this process before (it is still looked up: it may have been revoked)."""
        return api_key in self.succeeded

    async def _look_up(self, api_key: str) -> lenders.Lender | None:
        now = time.monotonic()
        async with self.db.autocommit() as tx:
            lender = await lenders.authenticate(tx, api_key)
        if lender is not None:
            if len(self.succeeded) > 10_000:
                self.succeeded.clear()
            self.succeeded.add(api_key)
        if lender is not None and self.ttl_s > 0:
            if len(self.cache) > 10_000:
                self.cache.clear()
            self.cache[api_key] = (now + self.ttl_s, lender)
        return lender


LENDERS = web.AppKey("lenders", LenderCache)
AUTH_FAILURES = web.AppKey("auth_failures", AuthFailures)


async def authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A /v1 request: the failed-authentication throttle by source, the lender's key, its rate limit; then
    ``handler`` with the lender in the request (`current_lender`)."""
    header = request.headers.get("Authorization", "")
    scheme, _, api_key = header.partition(" ")
    key = api_key.strip() if scheme.lower() == "bearer" else ""
    app, now = request.app, time.time()  # `request.app` is a look-up through the match info each time
    cache, failures, source = app[LENDERS], app[AUTH_FAILURES], request.remote or "unknown"
    throttled = failures.retry_after(source, now)
    if throttled and not cache.known(key):
        # Too many failures from this address: refused before any look-up or audit row (counted instead).
        failures.refused(source)
        raise RateLimited("too many failed authentications from this address", retry_after=throttled)
    lender = await cache.lender_for(key) if key else None
    if lender is None:
        reason, route = "missing" if not header else "invalid", _route(request)
        if failures.failed(source, reason, route):
            await failures.audit_first(source, reason, route)
        raise Unauthorized(
            "send a valid lender API key as 'Authorization: Bearer <key>'", code=error_codes.UNAUTHORIZED
        )
    wait = app[RATE_LIMITER].hit(lender.id)  # its own clock: the key look-up above may have waited
    if wait:
        rl = app[SETTINGS].rate_limit
        raise RateLimited(f"more than {rl.requests_per_window} requests in {rl.window_s} s", retry_after=wait)
    request[LENDER] = lender
    answer: web.StreamResponse = await handler(request)
    return answer


def current_lender(request: web.Request) -> lenders.Lender:
    return request[LENDER]
