"""The fast path keeps its shape on PostgreSQL: one OTP verification is two statements, one read and one
write (the code's use, its step and its audit entry in one data-modifying statement), and no BEGIN/COMMIT.

Every statement of the service's asyncpg pool is seen through asyncpg's query logger; the background
tasks' own statements (audit chainer, SMS outbox, rate-limit flush) touch other tables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from tests.conftest import reset_database, run_sync
from tests.methods.factorkit import (
    PEOPLE,
    Parties,
    open_identification,
    register,
    sent_code,
    start_parties,
    start_service,
)

ARMAN = PEOPLE["arman"]


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


async def test_a_verification_is_one_read_and_one_write(
    aiohttp_client: Any, pg_dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    run_sync(reset_database(pg_dsn))
    api = await start_service(aiohttp_client, pg_dsn, keys, parties)
    client = await register(api, ARMAN)
    ident = await open_identification(api, client)
    assert (await api.post(f"/v1/identifications/{ident}/otp", {})).status == 202
    code = await sent_code(parties, ARMAN.phone.number)

    pool = api.app[DB].pool
    assert pool is not None
    seen: dict[int, list[str]] = {}  # connection -> its statements, in order
    held = [await pool.acquire() for _ in range(pool.get_max_size())]  # every connection the pool can have
    for i, conn in enumerate(held):
        conn.add_query_logger(lambda q, i=i: seen.setdefault(i, []).append(q.query.strip()))
    for conn in held:
        await pool.release(conn)
    await asyncio.sleep(0.2)  # the background's rounds now, not during the request
    seen.clear()
    ok = await api.post(f"/v1/identifications/{ident}/otp/verify", {"code": code})
    assert ok.status == 200, await ok.text()
    # The request's statements: the ones on its tables (the background touches others).
    ours = [(i, q) for i, qs in seen.items() for q in qs if "identifications" in q or "otp_codes" in q]
    assert len(ours) == 2, ours
    (first_conn, read), (second_conn, write) = ours
    assert first_conn == second_conn and read.startswith("SELECT") and write.startswith("WITH")
    on_it = seen[first_conn]
    at = on_it.index(read)
    assert on_it[at + 1] == write  # back to back on one connection: nothing in between
    assert at == 0 or on_it[at - 1] != "BEGIN;"  # autocommit: no transaction around them
