"""No audit entry is lost when several processes change things at once on PostgreSQL (R-12.1).

PostgreSQL hands out ``audit_pending`` ids before commit and commits out of order: while a chainer reads a
batch, a transaction holding a lower id may still be open. The chainer must delete exactly the entries it
chained (a ``WHERE id <= last`` delete threw such late entries away unchained: issue 11, item 1).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import uuid

from sqlalchemy import func, select

from authsvc.audit import records
from authsvc.audit.chain import verify_chain
from authsvc.audit.chainer import chain_all, chain_pending
from authsvc.audit.events import AuditEvent
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import lenders
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.schema import audit_log
from authsvc.store.schema import lenders as lenders_table
from tests.conftest import reset_database, run_sync

PROCESSES = 4
CHANGES_PER_PROCESS = 150  # 600 changes, 6 at a time in each process


async def _changes(dsn: str, keys_json: str, tag: str, n: int) -> None:
    keys = LocalKeyStore.from_json(keys_json)
    engine = create_engine(dsn)
    db = await Database.open(engine, dsn, pool_size=6)
    stop = asyncio.Event()

    async def change(i: int) -> None:
        async with db.transaction() as tx:
            lender, _ = await lenders.create(tx, f"{tag}-{i}")
            await records.append(tx, keys, AuditEvent.LENDER_CREATED, lender_id=lender.id, details={"tag": tag})
            await asyncio.sleep(random.uniform(0, 0.02))  # commit out of id order

    async def chainer() -> None:  # every process chains, as every service process does
        while not stop.is_set():
            await chain_pending(db, keys)  # full batches: signing them takes a while, commits land meanwhile
            await asyncio.sleep(0.02)

    task = asyncio.create_task(chainer())
    try:
        gate = asyncio.Semaphore(6)

        async def one(i: int) -> None:
            async with gate:
                await change(i)

        await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        stop.set()
        await task
        await db.close()
        await engine.dispose()


def _worker(dsn: str, keys_json: str, tag: str, n: int) -> None:
    asyncio.run(_changes(dsn, keys_json, tag, n))


async def test_every_change_of_several_processes_has_its_audit_entry(pg_dsn: str) -> None:
    run_sync(reset_database(pg_dsn))
    keys = LocalKeyStore.generate()
    tag = f"race-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(pg_dsn, keys.to_json(), f"{tag}-{p}", CHANGES_PER_PROCESS))
        for p in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        await asyncio.to_thread(proc.join, 120)
        assert proc.exitcode == 0
    engine = create_engine(pg_dsn)
    db = await Database.open(engine, pg_dsn, pool_size=2)
    try:
        await chain_all(db, keys)  # what a clean stop does
        async with db.transaction() as tx:
            changes = await tx.scalar(select(func.count()).select_from(lenders_table))
            audited = await tx.scalar(
                select(func.count()).select_from(audit_log).where(audit_log.c.event == AuditEvent.LENDER_CREATED.value)
            )
            pending = await records.pending_count(tx)
            entries, head = await records.read_all(tx)
    finally:
        await db.close()
        await engine.dispose()
    assert changes == PROCESSES * CHANGES_PER_PROCESS
    assert pending == 0
    assert audited == changes, f"{changes - audited} of {changes} changes have no audit entry"
    assert verify_chain(entries, head, keys.audit_public_key).ok
