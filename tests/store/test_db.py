"""The store's fast path (authsvc.store.db): the same `Statement`s and `Tx.write` give the same rows and the
same all-or-nothing behaviour through asyncpg (PostgreSQL's `PgTx`) and through SQLAlchemy (`SqlaTx`, on
SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import LargeBinary, bindparam, insert, literal, literal_column, select, update

from authsvc.store import identifications as idents
from authsvc.store.db import Database, Insert, Statement, Tx
from authsvc.store.engine import create_engine
from authsvc.store.errors import Duplicate
from authsvc.store.migrate import upgrade
from authsvc.store.schema import audit_pending, lenders, otp_codes, throttles

_CODE = Statement(select(otp_codes).where(otp_codes.c.id == bindparam("code_id")))
_USE = Statement(
    update(otp_codes)
    .where(otp_codes.c.id == bindparam("code_id"), otp_codes.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
    .returning(otp_codes.c.id)
)


@asynccontextmanager
async def opened(dsn: str) -> AsyncIterator[Database]:
    engine = create_engine(dsn)
    await upgrade(engine)
    db = await Database.open(engine, dsn, pool_size=2)
    try:
        yield db
    finally:
        await db.close()
        await engine.dispose()


def paths(dsn: str) -> list[str]:
    # Every way a store function can be handed a transaction on this backend.
    return ["asyncpg", "sqlalchemy"] if dsn.startswith("postgresql") else ["sqlalchemy"]


@asynccontextmanager
async def transaction(db: Database, path: str) -> AsyncIterator[Tx]:
    if path == "asyncpg":
        async with db.transaction() as tx:
            yield tx
    else:
        async with Database(db.engine).transaction() as conn:  # no pool: SQLAlchemy's connection
            yield conn


def code_row(now: datetime) -> Insert:
    values = {
        "id": str(uuid.uuid4()),
        "lender_id": "L",
        "client_id": "C",
        "binding": f"test:{uuid.uuid4()}",
        "code_mac": "0" * 64,
        "channel": "sms",
        "created_at": now,
        "expires_at": now + timedelta(minutes=5),
        "attempts": 0,
        "max_attempts": 5,
    }
    return Insert(otp_codes, values)


async def test_rows_read_back_alike(dsn: str) -> None:
    now = datetime.now(UTC).replace(microsecond=123456)
    async with opened(dsn) as db:
        for path in paths(dsn):
            row = code_row(now)
            async with transaction(db, path) as tx:
                await tx.write([row])
            async with transaction(db, path) as tx:
                got = await tx.one(_CODE, code_id=row.values["id"])
            assert got is not None, path
            assert got["binding"] == row.values["binding"]
            # Aware UTC on PostgreSQL, naive UTC from SQLite: the same instant either way.
            created = got["created_at"]
            assert (created if created.tzinfo else created.replace(tzinfo=UTC)) == now, path


async def test_guarded_write_inserts_only_when_the_guard_matched(dsn: str) -> None:
    now = datetime.now(UTC)
    async with opened(dsn) as db:
        for path in paths(dsn):
            code = code_row(now)
            async with transaction(db, path) as tx:
                await tx.write([code])
            marker = f"guard-{path}-{uuid.uuid4()}"
            entry = {"at": "t", "event": marker, "details": "{}", "key_id": "k", "signature": b"s"}
            for expect_row in (True, False):  # the second use finds the code used: nothing inserted
                async with transaction(db, path) as tx:
                    first = await tx.write(
                        [Insert(audit_pending, entry)], first=_USE, only_if=True, code_id=code.values["id"], now=now
                    )
                assert (first is not None) is expect_row, path
            async with db.engine.connect() as conn:
                written = (await conn.execute(select(audit_pending.c.id).where(audit_pending.c.event == marker))).all()
            assert len(written) == 1, path  # once, with the use that matched


_BUMP = Statement(  # a `then` UPDATE: count a try on another code
    update(otp_codes).where(otp_codes.c.id == bindparam("other_id")).values(attempts=otp_codes.c.attempts + 1)
)
_NOTE = Statement(  # a `then` INSERT … SELECT: an entry naming the other code
    insert(audit_pending).from_select(
        ["at", "event", "details", "key_id", "signature"],
        select(literal("t"), bindparam("marker"), otp_codes.c.id, literal("k"), literal(b"s", type_=LargeBinary)).where(
            otp_codes.c.id == bindparam("other_id")
        ),
    )
)


async def test_then_statements_run_only_when_the_guard_matched(dsn: str) -> None:
    """`Tx.write(then=…)`: an UPDATE and an INSERT … SELECT that run with the guard's update and not without
    it (on PostgreSQL inside the one statement, gated on the guard's row)."""
    now = datetime.now(UTC)
    async with opened(dsn) as db:
        for path in paths(dsn):
            code, other = code_row(now), code_row(now)
            async with transaction(db, path) as tx:
                await tx.write([code, other])
            marker = f"then-{path}-{uuid.uuid4()}"
            for expect_row in (True, False):  # the second use finds the code used: neither statement runs
                async with transaction(db, path) as tx:
                    first = await tx.write(
                        [],
                        first=_USE,
                        then=[_BUMP, _NOTE],
                        code_id=code.values["id"],
                        other_id=other.values["id"],
                        marker=marker,
                        now=now,
                    )
                assert (first is not None) is expect_row, path
            async with transaction(db, path) as tx:
                bumped = await tx.one(_CODE, code_id=other.values["id"])
            assert bumped is not None and bumped["attempts"] == 1, path
            async with db.engine.connect() as conn:
                notes = (
                    await conn.execute(select(audit_pending.c.details).where(audit_pending.c.event == marker))
                ).all()
            assert [n[0] for n in notes] == [other.values["id"]], path


async def test_write_is_all_or_nothing(dsn: str) -> None:
    """A failing insert (duplicate key) undoes the guard's update and the other rows: no code is used
    without its record."""
    now = datetime.now(UTC)
    async with opened(dsn) as db:
        for path in paths(dsn):
            code = code_row(now)
            async with transaction(db, path) as tx:
                await tx.write([code])
            marker = f"atomic-{path}-{uuid.uuid4()}"
            entry = {"at": "t", "event": marker, "details": "{}", "key_id": "k", "signature": b"s"}
            with pytest.raises(Duplicate):  # either driver's unique violation, mapped at the store's edge
                async with transaction(db, path) as tx:
                    await tx.write(
                        [Insert(audit_pending, entry), code],  # the code row exists already
                        first=_USE,
                        code_id=code.values["id"],
                        now=now,
                    )
            async with transaction(db, path) as tx:
                got = await tx.one(_CODE, code_id=code.values["id"])
            assert got is not None and got["used_at"] is None, path
            async with db.engine.connect() as conn:
                written = (await conn.execute(select(audit_pending.c.id).where(audit_pending.c.event == marker))).all()
            assert written == [], path


async def test_run_counts_rows_and_insert_many_inserts_them(dsn: str) -> None:
    async with opened(dsn) as db:
        for path in paths(dsn):
            prefix = f"many-{path}-{uuid.uuid4().hex[:8]}"
            rows = [
                {"scope": f"{prefix}:{i}", "window_start": 0, "count": i, "failures": 0, "blocked_until": 0}
                for i in range(5)
            ]
            async with transaction(db, path) as tx:
                await tx.insert_many(throttles, rows)
                bump = Statement(
                    update(throttles)
                    .where(throttles.c.scope.like(bindparam("pattern")), throttles.c.count >= 2)
                    .values(failures=1)
                )
                assert await tx.run(bump, pattern=f"{prefix}:%") == 3
                listed = await tx.all(
                    Statement(select(throttles.c.scope).where(throttles.c.scope.like(bindparam("pattern")))),
                    pattern=f"{prefix}:%",
                )
            assert sorted(r["scope"] for r in listed) == [r["scope"] for r in rows], path


async def test_store_functions_take_either_kind_of_transaction(dsn: str) -> None:
    """One store function serves the fast path and an older caller's SQLAlchemy connection alike."""
    async with opened(dsn) as db:
        async with db.engine.begin() as conn:
            lender = str(uuid.uuid4())
            await conn.execute(
                lenders.insert().values(
                    id=lender, name="L", key_id=lender[:32], key_hash=b"h" * 32, created_at=datetime.now(UTC)
                )
            )
        for path in paths(dsn):
            async with transaction(db, path) as tx:
                assert await idents.get(tx, lender, str(uuid.uuid4())) is None
            async with Database(db.engine).transaction() as conn:
                assert await idents.get(conn, lender, str(uuid.uuid4())) is None


async def _backend(tx: Tx) -> int:
    if tx.dialect != "postgresql":
        return 0
    pid: int = await tx.scalar(select(literal_column("pg_backend_pid()")))
    return pid


async def test_one_connection_runs_each_scope_on_one_connection_each_committing_on_its_own(dsn: str) -> None:
    """`Database.one_connection` (a one-time code's verification): the scopes opened one after the other inside
    share one pooled connection, and each commits as it ends (another connection sees its rows before the block
    ends); a transaction that fails inside is rolled back alone, and the next scope runs on."""
    now = datetime.now(UTC)
    async with opened(dsn) as db:
        first, second = code_row(now), code_row(now)
        async with db.one_connection():
            async with db.autocommit() as tx:
                await tx.write([first])
                pids = {await _backend(tx)}
            async with Database(db.engine).transaction() as other:  # SQLAlchemy's own connection
                assert await other.one(_CODE, code_id=first.values["id"]) is not None  # committed already
            with pytest.raises(Duplicate):
                async with db.transaction() as tx:
                    await tx.write([second])
                    pids.add(await _backend(tx))
                    await tx.write([first])  # the key exists: the transaction is undone
            async with db.transaction() as tx:
                assert await tx.one(_CODE, code_id=second.values["id"]) is None  # rolled back
                pids.add(await _backend(tx))
        assert len(pids) == 1


async def test_one_connection_is_lent_to_one_scope_of_its_own_task_at_a_time(pg_dsn: str) -> None:
    """A scope opened inside another, or by a task started inside the block, gets a connection of its own: a
    transaction never turns into another scope's savepoint, and two tasks never share a connection (PostgreSQL
    only: SQLite has one connection, nothing is lent)."""
    async with opened(pg_dsn) as db, db.one_connection():
        async with db.autocommit() as outer:
            held = await _backend(outer)
            async with db.transaction() as inner:
                assert await _backend(inner) != held

        async def elsewhere() -> int:
            async with db.autocommit() as theirs:
                return await _backend(theirs)

        assert await asyncio.create_task(elsewhere()) != held  # a task of its own takes the pool's
        async with db.autocommit() as tx:
            assert await _backend(tx) == held
