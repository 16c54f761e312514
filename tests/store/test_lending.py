"""`authsvc.store.lending`: a `Database` scope's connection kept at hand for the next scope (issue 15, the request
path's cost) — and never where it would hurt: another task waiting for one, a broken or failed connection, a
transaction left open, one that lay unused too long. On PostgreSQL (SQLite has no pool)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import literal_column, select

from authsvc import error_codes
from authsvc.errors import NotFound
from authsvc.store.db import Database, Statement
from authsvc.store.engine import create_engine
from authsvc.store.errors import Unavailable

_PID = Statement(select(literal_column("pg_backend_pid()").label("pid")))


@asynccontextmanager
async def opened(dsn: str, pool_size: int) -> AsyncIterator[Database]:
    engine = create_engine(dsn)
    db = await Database.open(engine, dsn, pool_size=pool_size)
    try:
        yield db
    finally:
        await db.close()
        await engine.dispose()


async def backend(db: Database) -> int:
    async with db.autocommit() as tx:
        pid: int = await tx.scalar(_PID)
    return pid


async def test_a_clean_scope_leaves_its_connection_for_the_next(pg_dsn: str) -> None:
    async with opened(pg_dsn, 3) as db:
        first = await backend(db)
        assert await backend(db) == first
        async with db.transaction() as tx:
            assert await tx.scalar(_PID) == first
        async with db.one_connection(), db.autocommit() as tx:
            assert await tx.scalar(_PID) == first
        assert await backend(db) == first


async def test_a_task_waiting_for_a_connection_gets_the_one_given_back(pg_dsn: str) -> None:
    """One connection: the scope that ends hands it to the waiting scope, not to the stack (else it waits forever)."""
    async with opened(pg_dsn, 1) as db:
        release = asyncio.Event()

        async def holder() -> None:
            async with db.autocommit() as tx:
                await tx.scalar(_PID)
                await release.wait()

        held = asyncio.create_task(holder())
        await asyncio.sleep(0.05)
        waiter = asyncio.create_task(backend(db))
        await asyncio.sleep(0.05)
        release.set()
        await held
        await asyncio.wait_for(waiter, 5)
        # And one taken by `acquire` (the bells' NOTIFY) while a scope holds it.
        async with db.autocommit():
            acquiring = asyncio.create_task(asyncio.wait_for(db_acquire(db), 5))
            await asyncio.sleep(0.05)
        await acquiring


async def db_acquire(db: Database) -> None:
    assert db.pool is not None
    async with db.pool.acquire() as conn:
        await conn.execute("SELECT 1")


async def test_a_refusal_between_statements_keeps_the_connection(pg_dsn: str) -> None:
    """A 404 raised inside the read's scope (`cabinet.service.get`) is no reason to reset the connection."""
    async with opened(pg_dsn, 2) as db:
        first = await backend(db)
        for scope in (db.autocommit, db.transaction):
            try:
                async with scope() as tx:
                    assert await tx.scalar(_PID) == first
                    raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
            except NotFound:
                pass
        assert await backend(db) == first


async def test_a_failed_scope_or_an_open_transaction_is_not_kept(pg_dsn: str) -> None:
    async with opened(pg_dsn, 2) as db:
        assert db.pool is not None
        try:
            async with db.autocommit() as tx:
                await tx.scalar(_PID)
                raise RuntimeError("the scope fails")
        except RuntimeError:
            pass
        assert not db.pool._idle, "a failed scope's connection went back to asyncpg (its reset)"
        async with db.autocommit() as tx:
            conn = tx.conn  # type: ignore[attr-defined]
            await conn.execute("BEGIN")  # left open behind `Database`'s back
        assert not db.pool._idle
        for _ in range(2):  # none of the pool's connections is left in it
            async with db.autocommit() as a, db.autocommit() as b:
                assert not a.conn.is_in_transaction() and not b.conn.is_in_transaction()  # type: ignore[attr-defined]


async def test_a_connection_the_server_closed_is_not_lent(pg_dsn: str) -> None:
    async with opened(pg_dsn, 2) as db:
        kept = await backend(db)
        admin = await asyncpg.connect(pg_dsn)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", kept)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the connection sees its end
        assert await backend(db) != kept


async def test_a_connection_unused_too_long_goes_back_to_asyncpg(pg_dsn: str) -> None:
    async with opened(pg_dsn, 3) as db:
        assert db.pool is not None
        db.pool.idle_s = 0.05
        async with db.autocommit() as a, db.autocommit() as b:
            await a.scalar(_PID)
            await b.scalar(_PID)
        assert len(db.pool._idle) == 2
        await asyncio.sleep(0.1)
        await backend(db)  # takes the newest, gives it back: the oldest has lain unused too long
        assert len(db.pool._idle) == 1


async def test_a_scope_on_a_broken_connection_is_the_database_unavailable(pg_dsn: str) -> None:
    async with opened(pg_dsn, 2) as db:
        try:
            async with db.autocommit() as tx:
                tx.conn.terminate()  # type: ignore[attr-defined]
                await tx.scalar(_PID)
        except Unavailable:
            pass
        else:
            raise AssertionError("a query on a terminated connection succeeded")
        await backend(db)  # the next scope gets a working connection
