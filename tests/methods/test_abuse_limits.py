"""The database-backed counters under the abuse limits and the SMS outbox, on both databases:
fixed windows that reset, doubling capped delays forgiven by a right answer, purging, and outbox
claims that never hand one message to two workers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import outbox, throttle
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade


@pytest.fixture
async def engine(dsn: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(dsn)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize(
    ("failures", "delay"), [(1, 0), (3, 0), (4, 2), (5, 4), (6, 8), (10, 128), (11, 200), (1000, 200)]
)
def test_delay_schedule_doubles_after_the_free_failures_and_is_capped(failures: int, delay: int) -> None:
    assert throttle.delay_after(failures, free=3, base_s=2, max_s=200) == delay


async def test_window_counts_reset_with_the_window(engine: AsyncEngine) -> None:
    async with Database(engine).transaction() as conn:
        waits = [await throttle.count(conn, "t:a", limit=2, window_s=60, now=1000.0) for _ in range(3)]
        other = await throttle.count(conn, "t:b", limit=2, window_s=60, now=1000.0)
        later = await throttle.count(conn, "t:a", limit=2, window_s=60, now=1030.0)
    assert waits == [0, 0, 20]  # the window [960, 1020) ends 20 s after t=1000
    assert (other, later) == (0, 0)


async def test_failures_block_then_a_success_forgives(engine: AsyncEngine) -> None:
    async with Database(engine).transaction() as conn:
        imposed = [await throttle.fail(conn, "f:x", free=1, base_s=5, max_s=60, now=100.0) for _ in range(3)]
        assert imposed == [0, 5, 10]
        paused = await throttle.peek_at(conn, [], "f:x", window_start=0)
        untouched = await throttle.peek_at(conn, [], "f:other", window_start=0)
        assert (paused.paused_for(101.0), untouched.paused_for(101.0)) == (9, 0)
        assert paused.paused_for(111.0) == 0 and paused.failures == 3
        await throttle.succeed(conn, "f:x")
        assert await throttle.fail(conn, "f:x", free=1, base_s=5, max_s=60, now=200.0) == 0


async def test_purge_keeps_live_records(engine: AsyncEngine) -> None:
    async with Database(engine).transaction() as conn:
        await throttle.count(conn, "old", limit=5, window_s=60, now=0.0)
        await throttle.fail(conn, "guessing", free=0, base_s=5, max_s=60, now=0.0)
        await throttle.count(conn, "fresh", limit=5, window_s=60, now=10_000.0)
        await throttle.purge(conn, older_than_s=3600, now=10_000.0)
        left = {s: await throttle.count(conn, s, limit=1, window_s=60, now=10_000.0) for s in ("old", "fresh")}
        assert await throttle.fail(conn, "guessing", free=0, base_s=5, max_s=60, now=10_000.0) == 10
    assert left == {"old": 0, "fresh": 60 - 10_000 % 60}


async def test_concurrent_claims_never_share_a_message(engine: AsyncEngine, dsn: str, keys: LocalKeyStore) -> None:
    async with Database(engine).transaction() as conn:
        ids = {await outbox.enqueue(conn, keys, "otp", "+77771234567", f"code {n}") for n in range(12)}
    second = create_engine(dsn)
    try:

        async def claim(e: AsyncEngine) -> list[outbox.Claimed]:
            async with Database(e).transaction() as conn:
                return await outbox.claim(conn, keys, limit=8, lease_s=60)

        a, b = await asyncio.gather(claim(engine), claim(second))
    finally:
        await second.dispose()
    got_a, got_b = {m.id for m in a}, {m.id for m in b}
    assert not got_a & got_b and got_a | got_b == ids
    assert {m.text for m in a + b} == {f"code {n}" for n in range(12)}
    async with Database(engine).transaction() as conn:
        assert await outbox.claim(conn, keys, limit=8, lease_s=60) == []  # all leased


async def test_several_caps_counted_at_once_refuse_when_any_is_over(engine: AsyncEngine) -> None:
    async with Database(engine).transaction() as conn:
        caps = {"s:phone": 1, "s:ip": 5}
        assert await throttle.count_many(conn, caps, window_s=60, now=600.0) == 0
        assert await throttle.count_many(conn, caps, window_s=60, now=601.0) == 59  # the phone is over
        assert await throttle.count_many(conn, {"s:ip": 5}, window_s=60, now=602.0) == 0  # the IP alone is not
