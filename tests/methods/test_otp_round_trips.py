"""The fast path keeps its shape on PostgreSQL: one OTP verification is one read (the identification with its
code and counters, and how many steps it has) and one write, both without BEGIN/COMMIT. When the read found
no step, the write is the whole verification: the code's use, its step and its audit entry, and — the step
deciding the login alone — the conditional end (only while no other step exists) with its audit entry and
the lender's callback, in one data-modifying statement. Both run on one pooled connection.

Every statement of the service's asyncpg pool is seen through asyncpg's query logger; the background
tasks' own statements (audit chainer, SMS outbox, rate-limit flush) touch other tables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.methods.otp_codes import hotp
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


async def verification_statements(api: Any, ident: str, body: dict[str, str], code_table: str) -> None:
    """One right code verified: its statements (those on its tables) are one read and one write (the end with
    it) without BEGIN/COMMIT, on one pooled connection."""
    pool = api.app[DB].pool
    assert pool is not None
    seen: dict[int, list[str]] = {}  # connection -> its statements, in order
    held = [await pool.acquire() for _ in range(pool.get_max_size())]  # every connection the pool can have
    order: list[str] = []  # every statement, in the order they ran

    def logger(i: int) -> Any:
        def log(q: Any) -> None:
            seen.setdefault(i, []).append(q.query.strip())
            order.append(q.query.strip())

        return log

    for i, conn in enumerate(held):
        conn.add_query_logger(logger(i))
    for conn in held:
        await pool.release(conn)
    await asyncio.sleep(0.2)  # the background's rounds now, not during the request
    seen.clear()
    order.clear()
    ok = await api.post(f"/v1/identifications/{ident}/otp/verify", body)
    assert ok.status == 200, await ok.text()
    # The request's statements: the ones on its tables (the background touches others).
    tables = ("identifications", code_table, "identification_steps")
    ours = [(i, q) for i, qs in seen.items() for q in qs if any(t in q for t in tables)]
    ours.sort(key=lambda iq: order.index(iq[1]))
    kinds = [q.split()[0] for _, q in ours]
    assert kinds == ["SELECT", "WITH"], ours
    read, write = (q for _, q in ours)
    assert code_table in read and code_table in write and "identification_steps" in read
    assert "INSERT INTO identification_steps" in write and "audit_pending" in write
    assert "UPDATE identifications" in write and "webhook_deliveries" in write
    # On one pooled connection (`Database.one_connection`): no pool round trip between them.
    assert len({conn for conn, _ in ours}) == 1, ours
    for conn, query in ours:  # autocommit: no transaction around the verification, the judgement, the end
        on_it = seen[conn]
        at = on_it.index(query)
        assert at == 0 or on_it[at - 1] != "BEGIN;"


async def test_a_verification_is_one_read_and_one_write(
    aiohttp_client: Any, pg_dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    run_sync(reset_database(pg_dsn))
    api = await start_service(aiohttp_client, pg_dsn, keys, parties)
    client = await register(api, ARMAN)
    ident = await open_identification(api, client)
    assert (await api.post(f"/v1/identifications/{ident}/otp", {})).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    await verification_statements(api, ident, {"code": code}, "otp_codes")


async def test_a_hardware_token_code_takes_the_same_path(
    aiohttp_client: Any, pg_dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    """An HOTP code: the token read with the identification, its counter moved in the write (issue 15 item 5)."""
    run_sync(reset_database(pg_dsn))
    api = await start_service(aiohttp_client, pg_dsn, keys, parties)
    client = await register(api, ARMAN)
    seed = bytes(range(20))
    assert (await api.post("/v1/tokens", {"serial": "HW-RT-1", "seed_hex": seed.hex()})).status == 201
    assert (await api.post("/v1/tokens/HW-RT-1/assign", {"client_id": client})).status == 200
    ident = await open_identification(api, client)
    await verification_statements(api, ident, {"factor": "hotp", "code": hotp(seed, 0)}, "otp_tokens")
