"""The per-lender limit holds across processes sharing one database (two limiters = two processes)."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from authsvc.api.rate_limiter import RateLimiter
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade
from tests.conftest import reset_database, run_sync

NOW = 1_800_000_000.0  # a fixed moment, 0 s into a 60 s window


async def test_two_processes_share_one_limit(dsn: str) -> None:
    engine = create_engine(dsn)
    await upgrade(engine)
    try:
        a = RateLimiter(Database(engine), limit=10, window_s=60)
        b = RateLimiter(Database(engine), limit=10, window_s=60)
        assert [a.hit("L1", NOW) for _ in range(6)] == [0] * 6
        await a.flush(NOW)
        await b.flush(NOW)  # nothing of its own yet: learns nothing; its next flush reads the total
        assert [b.hit("L1", NOW) for _ in range(4)] == [0] * 4
        await b.flush(NOW)  # shared total now 10
        assert b.hit("L1", NOW + 1) == 59  # the 11th request in the window waits until it ends
        await a.flush(NOW)
        assert b.hit("L2", NOW) == 0  # per lender
        assert a.hit("L1", NOW + 61) == 0  # a new window
    finally:
        await engine.dispose()


async def test_a_failed_flush_keeps_the_counts(dsn: str) -> None:
    good = create_engine(dsn)
    await upgrade(good)
    broken = create_engine("postgresql://nobody@127.0.0.1:1/none")  # nothing listens there
    limiter = RateLimiter(Database(broken), limit=5, window_s=60)
    try:
        for _ in range(3):
            limiter.hit("L1", NOW)
        try:
            await limiter.flush(NOW)
        except OSError:  # the store's Unavailable is a ConnectionError
            pass
        else:
            raise AssertionError("flush against a dead database should fail")
        limiter.db = Database(good)
        await limiter.flush(NOW)
        assert limiter.hit("L1", NOW) == 0 and limiter.hit("L1", NOW) == 0  # 3 + 2 = 5: still allowed
        assert limiter.hit("L1", NOW) > 0
    finally:
        await broken.dispose()
        await good.dispose()


async def test_counts_on_their_way_to_the_database_still_count(pg_dsn: str) -> None:
    """While a flush waits on the database (here: another transaction holds the window's row), the requests
    admitted meanwhile are judged with the counts being written, not against the old total alone."""
    run_sync(reset_database(pg_dsn))
    engine = create_engine(pg_dsn)
    await upgrade(engine)
    db = await Database.open(engine, pg_dsn, pool_size=2)
    limiter = RateLimiter(db, limit=5, window_s=60)
    try:
        limiter.hit("L1", NOW)
        await limiter.flush(NOW)  # the window's row exists: 1
        assert [limiter.hit("L1", NOW) for _ in range(3)] == [0] * 3
        async with db.transaction() as other:
            await other.run(text("SELECT count FROM rate_windows WHERE lender_id = 'L1' FOR UPDATE"))
            flushing = asyncio.create_task(limiter.flush(NOW))
            await asyncio.sleep(0.3)  # the flush's upsert waits on the row
            assert not flushing.done()
            assert limiter.hit("L1", NOW) == 0  # 1 written + 3 on their way + this one = 5
            assert limiter.hit("L1", NOW) > 0  # the 6th: over the limit
        await flushing
        assert limiter.hit("L1", NOW) > 0
    finally:
        await db.close()
        await engine.dispose()
