"""The per-lender limit holds across processes sharing one database (two limiters = two processes)."""

from __future__ import annotations

from authsvc.api.rate_limiter import RateLimiter
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade

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
