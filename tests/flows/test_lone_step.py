"""A step judged alone (the one-time code's fast path, `Flows.settle(lone=…)`): when the read found no step, the
code's step ends the identification in one statement without reading the steps back — only if it is still the
identification's one step when that statement runs; otherwise every step is judged as usual. SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from authsvc.api.state import DB, FLOWS
from authsvc.audit.events import AuditEvent
from authsvc.config import Settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.flows.session import Flows
from authsvc.store import identifications, steps
from authsvc.store.identifications import Identification
from tests.auditkit import entries
from tests.conftest import Api, individual, start_api
from tests.flowkit import PROFILE, registered


async def _login(api: Api) -> tuple[Flows, Identification]:
    client = (await (await api.post("/v1/clients", individual())).json())["id"]
    await registered(api, client)
    opened = await api.post("/v1/identifications", {"client_id": client, "operation": "login", "profile": PROFILE})
    flows = api.app[FLOWS]
    return flows, await flows.open_for(api.lender_id, (await opened.json())["id"])


async def _step(api: Api, ident: Identification, passed: bool) -> steps.Step:
    recorder = api.app[FLOWS].recorder(ident, "otp_hotp", {"factor": "hotp"})
    async with api.app[DB].transaction() as tx:
        await tx.write(await recorder(passed))
    return recorder.recorded()


async def _ended_entries(api: Api, ident_id: str) -> int:
    found = entries(subject=ident_id).subquery()
    async with api.app[DB].autocommit() as tx:
        count = await tx.scalar(
            select(func.count())
            .select_from(found)
            .where(
                found.c.event.in_(
                    [AuditEvent.IDENTIFICATION_COMPLETED.value, AuditEvent.IDENTIFICATION_FAILED.value]
                )
            )
        )
    return int(count or 0)


async def test_a_lone_right_code_completes_with_its_attestation(
    aiohttp_client: Any, settings: Settings, keys: LocalKeyStore
) -> None:
    api = await start_api(aiohttp_client, settings, keys)
    flows, ident = await _login(api)
    view = await flows.settle(ident, lone=await _step(api, ident, True))
    assert view.ident.status == identifications.Status.COMPLETED and view.ident.attestation
    assert [t.method for t in view.taken] == ["otp_hotp"]
    claims = flows.attestor.verify(view.ident.attestation).claims if flows.attestor else {}
    assert [s["method"] for s in claims["steps"]] == ["otp_hotp"]
    assert await _ended_entries(api, ident.id) == 1
    again = await flows.settle(ident, lone=view.taken[0])  # idempotent: the second call reads what was decided
    assert again.ident.status == identifications.Status.COMPLETED and await _ended_entries(api, ident.id) == 1


async def test_a_step_not_alone_after_all_is_judged_with_the_others(
    aiohttp_client: Any, settings: Settings, keys: LocalKeyStore
) -> None:
    """Two wrong codes committed meanwhile (another process's, unseen by the read): the end is not written on
    the lone step's judgement; every step is read and judged, and the attestation names all three."""
    api = await start_api(aiohttp_client, settings, keys)
    flows, ident = await _login(api)
    for _ in range(2):
        await _step(api, ident, False)
    view = await flows.settle(ident, lone=await _step(api, ident, True))
    assert view.ident.status == identifications.Status.COMPLETED and view.ident.attestation
    assert [t.outcome for t in view.taken] == ["failed", "failed", "passed"]
    claims = flows.attestor.verify(view.ident.attestation).claims if flows.attestor else {}
    assert [s["outcome"] for s in claims["steps"]] == ["failed", "failed", "passed"]
    assert await _ended_entries(api, ident.id) == 1
