"""Sending the webhook outbox: a task in every process that runs the jobs (its own cleanup_ctx in `authsvc.app`).

Each round claims due deliveries (`authsvc.store.webhooks.claim`: a lease under FOR UPDATE SKIP LOCKED, so
two processes never hold one delivery at once) and posts each to the lender's endpoint, signed
(`signing.header`), concurrently up to ``webhooks.concurrency``. A 2xx answer delivers it; anything else — a
3xx (redirects are not followed), 4xx, 5xx, timeout or refused connection — schedules the next try after an
exponential back-off with jitter (``backoff_s`` doubling up to ``max_backoff_s``, times 0.5–1), and after
``max_attempts`` tries the delivery is ``dead`` (a lender may redeliver it). Delivery is at least once: a
process that dies mid-send leaves its claim to lapse and another sends the same id again; one that stops
cleanly hands its unsent claims back at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

import aiohttp

from authsvc import metrics
from authsvc.config import WebhookSettings
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import AuthsvcError
from authsvc.parties.http import RetryPolicy
from authsvc.store import webhooks as store
from authsvc.store.db import Database
from authsvc.store.leases import ClaimWorker
from authsvc.webhooks import signing
from authsvc.webhooks.endpoints import check_url, signing_secrets

log = logging.getLogger("authsvc.webhooks")
USER_AGENT = "authsvc-webhooks/1"
_OUTCOMES = {store.DELIVERED: "delivered", store.QUEUED: "retried", store.DEAD: "dead"}  # the metric's


class WebhookWorker(ClaimWorker[store.Claimed]):
    def __init__(self, db: Database, keys: KeyStore, settings: WebhookSettings) -> None:
        # The bell is rung when a delivery was queued here (ping, redeliver): look now.
        super().__init__(
            log,
            name="webhook-outbox",
            what="webhook outbox",
            send_failed="webhook delivery failed unexpectedly",
            bell=asyncio.Event(),
            concurrency=settings.concurrency,
        )
        self._db, self._keys, self._settings = db, keys, settings
        self._backoff = RetryPolicy(
            attempts=settings.max_attempts, backoff=settings.backoff_s, max_backoff=settings.max_backoff_s
        )
        self._session: aiohttp.ClientSession | None = None
        # Unsealed secrets by endpoint, while its row is unchanged (a PKCS#11 unwrap is a device call).
        self._secrets: dict[str, tuple[datetime, datetime | None, list[str]]] = {}

    def start(self) -> None:
        self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        super().start()

    async def stop(self, grace_s: float = 0.0) -> None:
        """Claim no more; deliveries in flight get ``grace_s`` to finish, the rest go back to the outbox."""
        await super().stop(grace_s)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _poll_s(self) -> float:
        return self._settings.poll_s

    async def purge(self) -> None:
        async with self._db.transaction() as tx:
            await store.purge(tx, older_than=timedelta(days=self._settings.keep_days))

    async def _claim(self, limit: int) -> list[store.Claimed]:
        async with self._db.transaction() as tx:
            return await store.claim(tx, limit=limit, lease_s=self._settings.lease_s)

    async def _release(self, unsent: list[store.Claimed]) -> None:
        async with self._db.transaction() as tx:
            await store.release(tx, unsent)

    async def _signing_secrets(self, row: store.EndpointRow, now: datetime) -> list[str]:
        cached = self._secrets.get(row.id)
        if cached is not None and cached[0] == row.updated_at and (cached[1] is None or cached[1] > now):
            return cached[2]
        found = await signing_secrets(self._keys, row, now)
        grace_ends = row.previous_until if len(found) > 1 else None
        if len(self._secrets) > 10_000:
            self._secrets.clear()
        self._secrets[row.id] = (row.updated_at, grace_ends, found)
        return found

    async def _send(self, delivery: store.Claimed) -> None:
        try:
            await self._attempt(delivery)
        except Exception:
            # E.g. a sealed secret that no longer opens (record_tampered): count the try like a failed send,
            # so a fault that repeats ends in `dead` instead of a retry every lease.
            log.exception("webhook delivery failed unexpectedly", extra={"delivery_id": delivery.id})
            await self._failed(delivery, None, "internal_error")

    async def _attempt(self, delivery: store.Claimed) -> None:
        async with self._db.autocommit() as tx:
            row = await store.endpoint_of(tx, delivery.lender_id)
        if row is None:
            await self._finish(delivery, store.DEAD, None, "endpoint_deleted")
            return
        try:
            url = check_url(row.url, allow_http_loopback=self._settings.allow_http_loopback)
        except AuthsvcError:
            await self._finish(delivery, store.DEAD, None, "url_refused")  # e.g. http allowed no longer
            return
        body = delivery.body.encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            signing.SIGNATURE_HEADER: signing.header(await self._signing_secrets(row, datetime.now(UTC)), stamp, body),
            signing.DELIVERY_HEADER: delivery.id,
            signing.EVENT_HEADER: delivery.event,
        }
        status: int | None = None
        error: str | None = None
        assert self._session is not None
        try:
            timeout = aiohttp.ClientTimeout(total=self._settings.timeout_s)
            async with self._session.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                status = response.status
                await response.content.readany()  # a few bytes at most; the answer's body is not kept
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as exc:  # aiohttp wraps socket errors (refused, reset, DNS, TLS) in these
            error = "unreachable" if isinstance(exc, aiohttp.ClientConnectionError) else "bad_response"
        if status is not None and 200 <= status < 300:
            await self._finish(delivery, store.DELIVERED, status, None)
            return
        await self._failed(delivery, status, error or f"http_{status}")

    async def _failed(self, delivery: store.Claimed, status: int | None, error: str) -> None:
        """Queue the next try after the back-off, or mark the delivery dead after its last try."""
        final = delivery.attempts >= self._settings.max_attempts
        retry_at = None if final else datetime.now(UTC) + timedelta(seconds=self._backoff.delay(delivery.attempts))
        await self._finish(delivery, store.DEAD if final else store.QUEUED, status, error, retry_at)
        log.info(
            "webhook not delivered",
            extra={"delivery_id": delivery.id, "attempt": delivery.attempts, "error": error, "final": final},
        )

    async def _finish(
        self,
        delivery: store.Claimed,
        status: str,
        http_status: int | None,
        error: str | None,
        retry_at: datetime | None = None,
    ) -> None:
        async with self._db.transaction() as tx:
            await store.finish(tx, delivery, status=status, http_status=http_status, error=error, retry_at=retry_at)
        metrics.WEBHOOK_DELIVERIES.labels(_OUTCOMES[status]).inc()
