"""The incidents' background work, one task per service process (its own cleanup_ctx in `authsvc.app`):
export new incidents to the Anti-fraud centre, pull the AFC's national list feed into the lists, mark
overdue deadlines and warn of near ones. Every step is safe to run in several processes at once, and a
failed round is retried in the next."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime

from authsvc import metrics
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.errors import AuthsvcError, UpstreamUnavailable
from authsvc.incidents.service import IncidentService
from authsvc.lists import feed
from authsvc.methods import contact
from authsvc.parties.afc import AfcClient, IncidentReport
from authsvc.store import incidents as store
from authsvc.store import lists as list_store

log = logging.getLogger("authsvc.incidents")
BATCH = 100


class IncidentWorker:
    def __init__(self, service: IncidentService, afc: AfcClient) -> None:
        self.service = service
        self.afc = afc
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="incidents")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        settings = self.service.settings
        next_feed = loop.time()
        next_housekeeping = loop.time()
        bell = self.service.export_bell
        while True:
            bell.clear()
            await self._step("AFC export", self.export_pending())
            if loop.time() >= next_feed:
                next_feed = loop.time() + settings.afc_poll_s
                await self._step("AFC list feed", self.pull_feed())
            if loop.time() >= next_housekeeping:
                next_housekeeping = loop.time() + settings.housekeeping_s
                await self._step("incident deadlines", self.service.mark_deadlines())
            wait = max(0.05, min(next_feed, next_housekeeping) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bell.wait(), wait)

    async def _step(self, name: str, work: Awaitable[int]) -> None:
        try:
            await work
        except UpstreamUnavailable as exc:
            log.warning("%s: the Anti-fraud centre is unavailable", name, extra={"error": exc.code})
        except Exception:
            log.exception("%s failed", name)
            metrics.JOB_FAILURES.labels(metrics.name(name.lower().replace(" ", "_"))).inc()

    async def pull_feed(self) -> int:
        db, keys = self.service.db, self.service.keys
        applied = await feed.pull(db, keys, self.afc)
        async with db.transaction() as tx:
            await list_store.purge_expired(tx, datetime.now(UTC))
        return applied

    async def export_pending(self) -> int:
        """Export every incident not yet acknowledged by the AFC; returns how many were exported now."""
        db, keys = self.service.db, self.service.keys
        async with db.autocommit() as tx:
            rows = await store.pending_exports(tx, BATCH)
        exported = 0
        for row in rows:
            async with db.autocommit() as tx:
                person = await contact.load(tx, keys, row.lender_id, row.client_id)
                lender_name = await store.lender_name(tx, row.lender_id)
            try:
                receipt = await self.afc.report_incident(
                    IncidentReport(
                        incident_id=row.id,
                        lender_id=row.lender_id,
                        lender_name=lender_name,
                        kind=row.kind,
                        confirmed_by_police=row.confirmed_by_police,
                        detected_at=row.detected_at,
                        iin=person.iin,
                        phone=person.phone,
                        contract_id=row.contract_id,
                        loan_ref=row.loan_ref,
                        description=await self.service.description(row),
                    )
                )
            except UpstreamUnavailable:
                metrics.INCIDENT_EXPORTS.labels("unavailable").inc()
                raise  # the AFC is down: the rest wait for the next round
            except AuthsvcError as exc:
                log.error("AFC refused an incident export", extra={"incident_id": row.id, "error": exc.code})
                metrics.INCIDENT_EXPORTS.labels("refused").inc()
                continue
            async with db.transaction() as tx:
                current = await store.get(tx, row.lender_id, row.id, for_update=True)
                if current is None or current.afc_status == store.EXPORTED:
                    continue
                new = await store.change(
                    tx,
                    current,
                    afc_status=store.EXPORTED,
                    afc_ref=receipt.afc_ref,
                    afc_exported_at=receipt.received_at,
                )
                if new is None:
                    continue
                await audit.append(
                    tx,
                    keys,
                    AuditEvent.INCIDENT_EXPORTED,
                    lender_id=row.lender_id,
                    subject=row.id,
                    details={"afc_ref": receipt.afc_ref},
                )
                exported += 1
                metrics.INCIDENT_EXPORTS.labels("exported").inc()
        return exported
