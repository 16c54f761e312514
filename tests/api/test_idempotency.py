"""Idempotency-Key on POST /v1/clients under concurrency, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from authsvc.api.state import DB
from authsvc.store.schema import clients
from tests.conftest import Api, individual


async def clients_count(api: Api) -> int:
    async with api.app[DB].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(clients))).scalar_one())


async def test_fifty_concurrent_registrations_with_one_key_make_one_client(api: Api) -> None:
    body = individual()
    responses = await asyncio.gather(
        *(api.post("/v1/clients", body, **{"Idempotency-Key": "reg-7f3a"}) for _ in range(50))
    )
    statuses = [r.status for r in responses]
    bodies = [await r.json() for r in responses]
    assert statuses == [201] * 50, {s: statuses.count(s) for s in set(statuses)}
    assert len({b["id"] for b in bodies}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 49
    assert await clients_count(api) == 1


async def test_concurrent_registrations_of_one_iin_without_key_make_one_client(api: Api) -> None:
    responses = await asyncio.gather(*(api.post("/v1/clients", individual()) for _ in range(20)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 19
    assert await clients_count(api) == 1


async def test_key_reused_for_a_different_request_is_refused(api: Api) -> None:
    first = await api.post("/v1/clients", individual(), **{"Idempotency-Key": "k1"})
    assert first.status == 201
    other = await api.post("/v1/clients", individual(iin="900101300017"), **{"Idempotency-Key": "k1"})
    assert other.status == 409 and (await other.json())["code"] == "idempotency_key_reused"
    assert await clients_count(api) == 1


async def test_a_failed_request_does_not_burn_the_key(api: Api) -> None:
    bad = await api.post("/v1/clients", individual(iin="811201401189"), **{"Idempotency-Key": "k2"})
    assert bad.status == 422
    good = await api.post("/v1/clients", individual(), **{"Idempotency-Key": "k2"})
    assert good.status == 201


async def test_keys_are_per_lender(api: Api) -> None:
    _, other = await api.new_lender()
    a = await api.post("/v1/clients", individual(), **{"Idempotency-Key": "same"})
    b = await api.post("/v1/clients", individual(), key=other, **{"Idempotency-Key": "same"})
    assert a.status == b.status == 201
    assert (await a.json())["id"] != (await b.json())["id"]


async def test_malformed_key_is_400(api: Api) -> None:
    resp = await api.post("/v1/clients", individual(), **{"Idempotency-Key": "x" * 201})
    assert resp.status == 400 and (await resp.json())["code"] == "bad_idempotency_key"
