"""Idempotency-Key on every POST that creates something (operations declared ``idempotent=True``), over HTTP
on SQLite and PostgreSQL: a retry gets the first answer without running again, a different request under
the key is refused, concurrent twins run once, a failed request leaves the key free, and a twin in another
process is waited for (or its abandoned claim taken over)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from authsvc.api import idempotency as guard
from authsvc.api.state import DB, OPERATIONS
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import idempotency
from authsvc.store.schema import contracts, idempotency_keys, identifications, sms_outbox, webhook_deliveries
from tests.conftest import Api, individual
from tests.methods.factorkit import PEOPLE, Parties, calls, register, sent_code, start_parties, start_service

SHA = "ab" * 32
KEY = {"Idempotency-Key": "retry-0001"}


async def count(api: Api, table: Any) -> int:
    async with api.app[DB].autocommit() as tx:
        return int(await tx.scalar(select(func.count()).select_from(table)))


async def new_client(api: Api) -> str:
    resp = await api.post("/v1/clients", individual())
    assert resp.status == 201, await resp.text()
    client_id: str = (await resp.json())["id"]
    return client_id


async def twice(api: Api, path: str, body: Any, **headers: str) -> tuple[Any, Any]:
    first = await api.post(path, body, **headers)
    second = await api.post(path, body, **headers)
    assert first.status < 300, await first.text()
    assert second.status == first.status and await second.read() == await first.read()
    assert "Idempotent-Replayed" not in first.headers and second.headers["Idempotent-Replayed"] == "true"
    return first, second


async def test_every_listed_operation_is_declared_idempotent(api: Api) -> None:
    ops = api.app[OPERATIONS]
    for operation_id in (
        "createClient",
        "createContract",
        "sendContractCode",
        "signContract",
        "sendOtp",
        "pingWebhook",
    ):
        op = ops.get(operation_id)
        assert op is not None and op.idempotent, operation_id
    document = await (await api.client.get("/openapi.json")).json()
    post = document["paths"]["/v1/contracts"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in post["parameters"]]
    assert {"idempotency_key_reused", "idempotency_in_progress"} <= set(post["responses"]["409"]["x-error-codes"])


async def test_client_registration_replays_its_location(api: Api) -> None:
    first, second = await twice(api, "/v1/clients", individual(), **KEY)
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["Content-Type"].startswith("application/json")


async def test_contract_creation_replays_and_refuses_another_body(api: Api) -> None:
    client_id = await new_client(api)
    body = {"client_id": client_id, "sha256": SHA, "title": "Договор займа №1"}
    first, _ = await twice(api, "/v1/contracts", body, **KEY)
    assert await count(api, contracts) == 1
    other = await api.post("/v1/contracts", {**body, "title": "Договор займа №2"}, **KEY)
    assert other.status == 409 and (await other.json())["code"] == "idempotency_key_reused"
    # The key names one request: the same body on another path under it is another request.
    elsewhere = await api.post("/v1/clients", individual(iin="900101300017"), **KEY)
    assert elsewhere.status == 409 and (await elsewhere.json())["code"] == "idempotency_key_reused"
    assert await count(api, contracts) == 1
    without_key = await api.post("/v1/contracts", body)
    assert without_key.status == 201 and (await without_key.json())["id"] != (await first.json())["id"]


async def test_concurrent_twins_create_one_contract(api: Api) -> None:
    client_id = await new_client(api)
    body = {"client_id": client_id, "sha256": SHA}
    answers = await asyncio.gather(*(api.post("/v1/contracts", body, **KEY) for _ in range(20)))
    assert [a.status for a in answers] == [201] * 20
    assert len({(await a.json())["id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    assert await count(api, contracts) == 1


async def test_a_failed_request_leaves_the_key_free(api: Api) -> None:
    missing = await api.post("/v1/contracts", {"client_id": "no-such-client", "sha256": SHA}, **KEY)
    assert missing.status == 404
    assert await count(api, idempotency_keys) == 0
    good = await api.post("/v1/contracts", {"client_id": await new_client(api), "sha256": SHA}, **KEY)
    assert good.status == 201 and "Idempotent-Replayed" not in good.headers


async def test_otp_send_replays_without_a_second_sms(api: Api) -> None:
    client_id = await new_client(api)
    opened = await api.post("/v1/identifications", {"client_id": client_id, "operation": "login"})
    ident = (await opened.json())["id"]
    await twice(api, f"/v1/identifications/{ident}/otp", {"channel": "sms"}, **KEY)
    assert await count(api, sms_outbox) == 1
    voice = await api.post(f"/v1/identifications/{ident}/otp", {"channel": "voice"}, **KEY)
    assert voice.status == 409 and (await voice.json())["code"] == "idempotency_key_reused"
    assert await count(api, sms_outbox) == 1


async def test_webhook_ping_replays(api: Api) -> None:
    put = await api.client.put("/v1/webhook", json={"url": "https://hooks.example.kz/h"}, headers=api.headers())
    assert put.status == 201
    await twice(api, "/v1/webhook/ping", {}, **KEY)
    assert await count(api, webhook_deliveries) == 1


async def test_malformed_keys_are_400_on_any_idempotent_operation(api: Api) -> None:
    for key in ("x" * 201, "two words", "ключ"):
        resp = await api.client.post(
            "/v1/contracts", json={"client_id": "c", "sha256": SHA}, headers=api.headers(**{"Idempotency-Key": key})
        )
        assert resp.status == 400 and (await resp.json())["code"] == "bad_idempotency_key", key


async def test_a_twin_in_another_process_is_waited_for(api: Api) -> None:
    """Another process holds the key (a PENDING row): this request waits and replays its answer."""
    client_id = await new_client(api)
    body = {"client_id": client_id, "sha256": SHA}
    # What the other process's guard wrote: the same request's fingerprint, PENDING.
    prepared = await api.client.post("/v1/contracts", json=body, headers=api.headers(**{"Idempotency-Key": "probe"}))
    stored_body = await prepared.read()
    async with api.app[DB].transaction() as tx:
        row = await tx.one(select(idempotency_keys.c.request_mac).where(idempotency_keys.c.key == "probe"))
        assert row is not None
        await idempotency.claim(tx, api.lender_id, KEY["Idempotency-Key"], bytes(row["request_mac"]))
    waiting = asyncio.ensure_future(api.post("/v1/contracts", body, **KEY))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    async with api.app[DB].transaction() as tx:
        await idempotency.complete(
            tx, api.lender_id, KEY["Idempotency-Key"], 201, stored_body, {"Content-Type": "application/json"}
        )
    answer = await asyncio.wait_for(waiting, 5)
    assert answer.status == 201 and await answer.read() == stored_body
    assert answer.headers["Idempotent-Replayed"] == "true"
    assert await count(api, contracts) == 1  # the probe's; the waiting request did not run


async def test_an_abandoned_claim_is_taken_over_after_the_lease(api: Api) -> None:
    client_id = await new_client(api)
    body = {"client_id": client_id, "sha256": SHA}
    probe = await api.client.post("/v1/contracts", json=body, headers=api.headers(**{"Idempotency-Key": "probe"}))
    assert probe.status == 201
    async with api.app[DB].transaction() as tx:
        mac = await tx.scalar(select(idempotency_keys.c.request_mac).where(idempotency_keys.c.key == "probe"))
        await idempotency.claim(tx, api.lender_id, KEY["Idempotency-Key"], bytes(mac))
        await tx.run(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == KEY["Idempotency-Key"])
            .values(created_at=datetime.now(UTC) - timedelta(seconds=guard.LEASE_S + 5))
        )
    answer = await api.post("/v1/contracts", body, **KEY)
    assert answer.status == 201 and "Idempotent-Replayed" not in answer.headers
    assert await count(api, contracts) == 2
    again = await api.post("/v1/contracts", body, **KEY)
    assert again.headers["Idempotent-Replayed"] == "true" and await again.read() == await answer.read()


async def test_identification_opening_replays(api: Api) -> None:
    client_id = await new_client(api)
    await twice(api, "/v1/identifications", {"client_id": client_id, "operation": "login"}, **KEY)
    assert await count(api, identifications) == 1


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


async def test_loan_application_report_replays_without_asking_the_bureau_again(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await start_service(aiohttp_client, dsn, keys, parties)
    client_id = await register(api, PEOPLE["arman"])
    body = {
        "application_id": "APP-1",
        "lender_bin": "150140012343",
        "amount": 150000,
        "submitted_at": "2026-11-21T10:00:00+00:00",
    }
    asked = await calls(parties.bureau)
    first, _ = await twice(api, f"/v1/clients/{client_id}/loan-applications", body, **KEY)
    assert (await first.json())["notification_id"] is not None
    assert await calls(parties.bureau) == asked + 1


async def test_contract_code_and_one_time_code_signature_replay(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    """A retried code send sends one SMS; a retried signature answers the first signature (without the key,
    the used code is refused: tests/api/test_contracts.py)."""
    api = await start_service(aiohttp_client, dsn, keys, parties)
    person = PEOPLE["arman"]
    client_id = await register(api, person)
    created = await api.post("/v1/contracts", {"client_id": client_id, "sha256": SHA})
    contract = (await created.json())["id"]
    await twice(api, f"/v1/contracts/{contract}/code", {}, **KEY)
    assert await count(api, sms_outbox) == 1
    code = await sent_code(parties, person.phone.number)
    signed, _ = await twice(
        api, f"/v1/contracts/{contract}/sign", {"method": "otp", "code": code}, **{"Idempotency-Key": "sign-1"}
    )
    assert signed.status == 201
    report = await (await api.get(f"/v1/contracts/{contract}")).json()
    assert [s["method"] for s in report["signatures"]] == ["otp"]
