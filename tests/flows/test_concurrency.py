"""Two service processes settle the same identification at once: exactly one completes it (one audit entry,
one attestation), the other reads what the winner decided — on PostgreSQL, where the two run on separate
connection pools in parallel transactions, and on SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from authsvc.api.state import DB, FLOWS
from authsvc.app import create_app
from authsvc.audit.events import AuditEvent
from authsvc.config import Settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import identifications
from tests.auditkit import entries
from tests.conftest import TODAY, Api, individual, start_api
from tests.flowkit import PROFILE, registered

ROUNDS = 12


async def _completions(api: Api, ident_id: str) -> int:
    found = entries(event=AuditEvent.IDENTIFICATION_COMPLETED.value, subject=ident_id).subquery()
    async with api.app[DB].autocommit() as tx:
        count = await tx.scalar(select(func.count()).select_from(found))
    return int(count or 0)


async def test_two_processes_complete_an_identification_once(
    aiohttp_client: Any, settings: Settings, keys: LocalKeyStore
) -> None:
    one = await start_api(aiohttp_client, settings, keys)
    other_app = create_app(settings, keys=keys, today=TODAY)
    await aiohttp_client(other_app)  # started: its own database pool, flows and background tasks
    client = (await (await one.post("/v1/clients", individual())).json())["id"]
    await registered(one, client)
    flows_a, flows_b = one.app[FLOWS], other_app[FLOWS]
    for _ in range(ROUNDS):
        opened = await one.post("/v1/identifications", {"client_id": client, "operation": "login", "profile": PROFILE})
        ident_id = (await opened.json())["id"]
        ident = await flows_a.open_for(one.lender_id, ident_id)
        # The passed step is committed; neither process has judged it yet.
        recorder = flows_a.recorder(ident, "otp_hotp", {"factor": "hotp"})
        async with one.app[DB].transaction() as tx:
            await tx.write(await recorder(True))
        a, b = await asyncio.gather(flows_a.settle(ident), flows_b.settle(ident))
        assert a.ident.status == b.ident.status == identifications.Status.COMPLETED
        assert a.ident.attestation is not None and a.ident.attestation == b.ident.attestation  # one result
        assert await _completions(one, ident_id) == 1
        state = await (await one.get(f"/v1/identifications/{ident_id}")).json()
        assert state["status"] == "completed" and state["completed_at"]
