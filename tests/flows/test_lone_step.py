"""A step judged alone (the one-time code's fast path, `Flows.step(first_step=True)`): when the read found no
step, the end the step decides is written with the step (`Chained`: one statement on PostgreSQL) — only when
the step's own write happens, and only while it is still the identification's one step; otherwise every step
is read and judged as usual. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import false, func, literal, select

from authsvc.api.state import DB, FLOWS
from authsvc.audit.events import AuditEvent
from authsvc.config import Settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.flows.recorder import Attempt, StepRecorder
from authsvc.flows.session import Flows
from authsvc.store import identifications, steps
from authsvc.store.db import Statement
from authsvc.store.identifications import Identification
from authsvc.store.schema import webhook_deliveries
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
                found.c.event.in_([AuditEvent.IDENTIFICATION_COMPLETED.value, AuditEvent.IDENTIFICATION_FAILED.value])
            )
        )
    return int(count or 0)


# Stand-ins for a method's guard (a code's use, a token's counter): one that changes a row, one that lost.
WON = Statement(select(literal(1).label("won")))
LOST = Statement(select(literal(1).label("won")).where(false()))


def _work(api: Api, guard: Statement, others: int = 0) -> Any:
    """A right code's work: ``others`` wrong codes committed meanwhile by another process (unseen by the read
    that found no step), then the step written with ``guard``, as the one-time code's methods write it."""

    async def work(ident: Identification, records: StepRecorder) -> Attempt:
        for _ in range(others):
            await _step(api, ident, False)
        async with api.app[DB].autocommit() as tx:
            await tx.write(await records(True), first=guard, only_if=True)
        return Attempt(True, written=True)

    return work


async def test_a_lone_right_code_ends_the_login_in_its_own_write(
    aiohttp_client: Any, settings: Settings, keys: LocalKeyStore
) -> None:
    api = await start_api(aiohttp_client, settings, keys)
    flows, ident = await _login(api)
    done = await flows.step(api.lender_id, ident.id, "otp_hotp", _work(api, WON), first_step=True)
    view = done.view
    assert view.ident.status == identifications.Status.COMPLETED and view.ident.attestation
    assert [t.method for t in view.taken] == ["otp_hotp"] and view.judgement.verdict == "completed"
    claims = flows.attestor.verify(view.ident.attestation).claims if flows.attestor else {}
    assert [s["method"] for s in claims["steps"]] == ["otp_hotp"]
    assert await _ended_entries(api, ident.id) == 1
    state = await (await api.get(f"/v1/identifications/{ident.id}")).json()
    assert state["status"] == "completed" and state["attestation"] == view.ident.attestation


async def test_the_lenders_callback_goes_with_the_end(
    aiohttp_client: Any, settings: Settings, keys: LocalKeyStore
) -> None:
    """The callback row is written by the step's statement too (its parameters renamed beside the step's)."""
    api = await start_api(aiohttp_client, settings, keys)
    hook = await api.client.put(
        "/v1/webhook", json={"url": "https://hooks.example.kz/v2", "events": None}, headers=api.headers()
    )
    assert hook.status == 201, await hook.text()
    flows, ident = await _login(api)
    async with api.app[DB].autocommit() as tx:
        before = {r["id"] for r in await tx.all(select(webhook_deliveries.c.id))}
    done = await flows.step(api.lender_id, ident.id, "otp_hotp", _work(api, WON), first_step=True)
    async with api.app[DB].autocommit() as tx:
        rows = [r for r in await tx.all(select(webhook_deliveries)) if r["id"] not in before]
    assert [r["event"] for r in rows] == ["identification.completed"], rows
    body = json.loads(rows[0]["body"])
    assert body["data"]["identification_id"] == ident.id and body["data"]["status"] == "completed"
    assert body["data"]["attestation"] == done.view.ident.attestation


async def test_a_step_not_alone_after_all_is_judged_with_the_others(
    aiohttp_client: Any, settings: Settings, keys: LocalKeyStore
) -> None:
    """Two wrong codes committed meanwhile: the end is not written on the lone step's judgement; every step is
    read and judged, and the attestation names all three."""
    api = await start_api(aiohttp_client, settings, keys)
    flows, ident = await _login(api)
    done = await flows.step(api.lender_id, ident.id, "otp_hotp", _work(api, WON, others=2), first_step=True)
    view = done.view
    assert view.ident.status == identifications.Status.COMPLETED and view.ident.attestation
    assert [t.outcome for t in view.taken] == ["failed", "failed", "passed"]
    claims = flows.attestor.verify(view.ident.attestation).claims if flows.attestor else {}
    assert [s["outcome"] for s in claims["steps"]] == ["failed", "failed", "passed"]
    assert await _ended_entries(api, ident.id) == 1


async def test_no_end_without_the_steps_own_write(aiohttp_client: Any, settings: Settings, keys: LocalKeyStore) -> None:
    """The code lost its race (its guard changed nothing): neither the step nor the end it would decide."""
    api = await start_api(aiohttp_client, settings, keys)
    flows, ident = await _login(api)
    done = await flows.step(api.lender_id, ident.id, "otp_hotp", _work(api, LOST), first_step=True)
    assert done.view.ident.status == identifications.Status.PENDING and done.view.taken == []
    assert await _ended_entries(api, ident.id) == 0
    state = await (await api.get(f"/v1/identifications/{ident.id}")).json()
    assert state["status"] == "pending" and not state.get("attestation")
