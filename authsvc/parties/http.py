"""Shared outbound HTTP: timeouts, bounded retries with backoff, body-size limits, one error type.

Every client of an outside party (NCA OCSP/CRL/TSP, CDAO, telco, SMS, credit bureau) goes through
:class:`HttpClient` so a slow or broken party costs a bounded time and surfaces as
:class:`~authsvc.errors.UpstreamUnavailable` with a stable code, never as an aiohttp exception:

    upstream_timeout       no answer within the timeout (after the retries)
    upstream_unreachable   connection refused / DNS / TLS / reset
    upstream_bad_response  the party answered, but with a 5xx, an unacceptable body, or too much data

4xx answers are returned to the caller (a 404 means something different to each client).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final

import aiohttp

from authsvc import error_codes, metrics
from authsvc.error_codes import Code
from authsvc.errors import AuthsvcError, UpstreamUnavailable

__all__ = ["HttpClient", "HttpResponse", "RetryPolicy"]

log = logging.getLogger(__name__)
_DEFAULT_MAX_BODY: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str
    url: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` tries; exponential backoff with jitter between them, capped."""

    attempts: int = 3
    backoff: float = 0.2
    max_backoff: float = 2.0
    retry_statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 500, 502, 503, 504}))

    def delay(self, attempt: int) -> float:
        return float(min(self.backoff * 2 ** (attempt - 1), self.max_backoff) * random.uniform(0.5, 1.0))


class _Retryable(Exception):
    def __init__(self, code: Code, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class HttpClient:
    """A small wrapper over one :class:`aiohttp.ClientSession` (created lazily inside the loop)."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        retry: RetryPolicy | None = None,
        max_body: int = _DEFAULT_MAX_BODY,
        user_agent: str = "authsvc",
        party: str = "upstream",
    ) -> None:
        self.party = party  # the outside party in /metrics (a request may name its own)
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._retry = retry or RetryPolicy()
        self._max_body = max_body
        self._user_agent = user_agent

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": self._user_agent})
        return self._session

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        time_limit: float | None = None,
        accept: Callable[[HttpResponse], bool] | None = None,
        party: str | None = None,
    ) -> HttpResponse:
        return await self.request("GET", url, headers=headers, time_limit=time_limit, accept=accept, party=party)

    async def post(
        self,
        url: str,
        data: bytes,
        content_type: str,
        *,
        headers: Mapping[str, str] | None = None,
        time_limit: float | None = None,
        idempotent: bool = False,
        accept: Callable[[HttpResponse], bool] | None = None,
        party: str | None = None,
    ) -> HttpResponse:
        merged = {"Content-Type": content_type, **(headers or {})}
        return await self.request(
            "POST",
            url,
            data=data,
            headers=merged,
            time_limit=time_limit,
            idempotent=idempotent,
            accept=accept,
            party=party,
        )

    async def request(
        self,
        method: str,
        url: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        time_limit: float | None = None,
        idempotent: bool | None = None,
        accept: Callable[[HttpResponse], bool] | None = None,
        party: str | None = None,
    ) -> HttpResponse:
        """Send with retries (idempotent requests only; GET is, POST is not unless told).

        ``accept`` lets a caller reject a 2xx body (e.g. an HTML "Try again" page where DER was due);
        a rejected body is retried like a 5xx. Each request (its retries included) is counted and timed in
        /metrics under ``party`` (else the client's own).
        """
        may_retry = method in ("GET", "HEAD") if idempotent is None else idempotent
        attempts = self._retry.attempts if may_retry else 1
        last: _Retryable | None = None
        started = time.perf_counter()
        attempt = 1
        try:
            for attempt in range(1, attempts + 1):
                try:
                    response = await self._once(method, url, data, headers, time_limit)
                    if response.status in self._retry.retry_statuses:
                        raise _Retryable(error_codes.UPSTREAM_BAD_RESPONSE, f"{url} answered HTTP {response.status}")
                    if 200 <= response.status < 300 and accept is not None and not accept(response):
                        raise _Retryable(error_codes.UPSTREAM_BAD_RESPONSE, f"{url} answered with an unusable body")
                    outcome = "ok" if response.status < 400 else "client_error" if response.status < 500 else "error"
                    metrics.upstream(party or self.party, outcome, time.perf_counter() - started, attempt - 1)
                    return response
                except _Retryable as exc:
                    last = exc
                if attempt < attempts:
                    log.info("retrying outbound request", extra={"url": url, "attempt": attempt, "error": str(last)})
                    await asyncio.sleep(self._retry.delay(attempt))
        except asyncio.CancelledError:
            metrics.upstream(party or self.party, "cancelled", time.perf_counter() - started, attempt - 1)
            raise
        assert last is not None
        metrics.upstream(party or self.party, str(last.code), time.perf_counter() - started, attempts - 1)
        raise UpstreamUnavailable(str(last), code=last.code, url=url)

    async def _once(
        self,
        method: str,
        url: str,
        data: bytes | None,
        headers: Mapping[str, str] | None,
        time_limit: float | None,
    ) -> HttpResponse:
        total = self._timeout if time_limit is None else time_limit
        client_timeout = aiohttp.ClientTimeout(total=total, connect=min(self._connect_timeout, total))
        try:
            async with self._get_session().request(
                method, url, data=data, headers=headers, timeout=client_timeout, allow_redirects=True
            ) as response:
                declared = response.content_length
                if declared is not None and declared > self._max_body:
                    raise _Retryable(error_codes.UPSTREAM_BAD_RESPONSE, f"{url} sent {declared} bytes, over the limit")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > self._max_body:
                        raise _Retryable(
                            error_codes.UPSTREAM_BAD_RESPONSE, f"{url} sent more than {self._max_body} bytes"
                        )
                return HttpResponse(response.status, bytes(body), response.content_type or "", str(response.url))
        except TimeoutError as exc:
            raise _Retryable(error_codes.UPSTREAM_TIMEOUT, f"{url} did not answer within {total} s") from exc
        except aiohttp.ClientPayloadError as exc:
            raise _Retryable(error_codes.UPSTREAM_BAD_RESPONSE, f"{url} sent a broken body: {exc}") from exc
        except AuthsvcError:
            raise
        except (aiohttp.ClientError, OSError) as exc:
            raise _Retryable(error_codes.UPSTREAM_UNREACHABLE, f"{url} is unreachable: {type(exc).__name__}") from exc
