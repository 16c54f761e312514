"""Abuse limits kept in the database so every service process shares them (SMS pumping, code guessing).

Two kinds of row under one table, told apart by the scope's prefix:

* fixed-window counters (`count`): "at most N sends per phone per hour";
* failure counters (`fail` / `succeed` / `blocked_for`): after a few free wrong answers each further one
  imposes a doubling delay, capped, so a guesser slows to a crawl but nobody is ever locked out for good.

Scopes hold keyed hashes (never a raw phone number or IP address), built by the caller.
"""

from __future__ import annotations

import time

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from authsvc.store.schema import throttles


def _insert(conn: AsyncConnection) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.Insert if conn.dialect.name == "postgresql" else sqlite.Insert


async def count(conn: AsyncConnection, scope: str, *, limit: int, window_s: int, now: float | None = None) -> int:
    """Count one event in ``scope``; 0 when within ``limit`` for the window, else seconds to wait."""
    return await count_many(conn, {scope: limit}, window_s=window_s, now=now)


async def count_many(conn: AsyncConnection, limits: dict[str, int], *, window_s: int, now: float | None = None) -> int:
    """Count one event in each scope of ``limits`` (scope -> cap) in one statement; 0 when every
    scope is within its cap for the window, else the seconds until the window resets."""
    now = time.time() if now is None else now
    window = int(now // window_s) * window_s
    rows = [{"scope": scope, "window_start": window, "count": 1, "failures": 0, "blocked_until": 0} for scope in limits]
    ins = _insert(conn)(throttles).values(rows)
    stmt = ins.on_conflict_do_update(
        index_elements=["scope"],
        set_={
            "count": case((throttles.c.window_start == ins.excluded.window_start, throttles.c.count + 1), else_=1),
            "window_start": ins.excluded.window_start,
        },
    ).returning(throttles.c.scope, throttles.c.count)
    over = [scope for scope, seen in (await conn.execute(stmt)).all() if seen > limits[scope]]
    return max(1, int(window + window_s - now + 0.999)) if over else 0


async def blocked_for(conn: AsyncConnection, scopes: list[str], *, now: float | None = None) -> int:
    """Seconds until every scope in ``scopes`` accepts another attempt (0: go ahead)."""
    return (await failure_state(conn, scopes, now=now))[0]


async def failure_state(conn: AsyncConnection, scopes: list[str], *, now: float | None = None) -> tuple[int, bool]:
    """(seconds until every scope accepts another attempt, whether any holds wrong answers)."""
    now = time.time() if now is None else now
    rows = (
        await conn.execute(select(throttles.c.blocked_until, throttles.c.failures).where(throttles.c.scope.in_(scopes)))
    ).all()
    wait = max([0, *(int(until - now + 0.999) for until, _ in rows if until > now)])
    return wait, any(failures > 0 for _, failures in rows)


def delay_after(failures: int, *, free: int, base_s: int, max_s: int) -> int:
    """The wait imposed after the ``failures``-th wrong answer: none for the first ``free``, then doubling."""
    if failures <= free:
        return 0
    return int(min(max_s, base_s * 2 ** min(failures - free - 1, 30)))


async def fail(
    conn: AsyncConnection, scope: str, *, free: int, base_s: int, max_s: int, now: float | None = None
) -> int:
    """Record a wrong answer in ``scope``; returns the delay now imposed (0 while still free)."""
    now = time.time() if now is None else now
    ins = _insert(conn)(throttles).values(scope=scope, window_start=0, count=0, failures=1, blocked_until=0)
    stmt = ins.on_conflict_do_update(index_elements=["scope"], set_={"failures": throttles.c.failures + 1}).returning(
        throttles.c.failures
    )
    failures: int = (await conn.execute(stmt)).scalar_one()
    wait = delay_after(failures, free=free, base_s=base_s, max_s=max_s)
    if wait:
        await conn.execute(update(throttles).where(throttles.c.scope == scope).values(blocked_until=int(now) + wait))
    return wait


async def succeed(conn: AsyncConnection, scope: str) -> None:
    """A right answer forgives the earlier wrong ones."""
    # Only rows with failures are written: a right answer on a clean record costs no row lock.
    await conn.execute(
        update(throttles)
        .where(throttles.c.scope == scope, throttles.c.failures > 0)
        .values(failures=0, blocked_until=0)
    )


async def purge(conn: AsyncConnection, *, older_than_s: int, now: float | None = None) -> None:
    """Forget counters whose window and delay are long over and that hold no failures."""
    now = time.time() if now is None else now
    await conn.execute(
        delete(throttles).where(
            throttles.c.window_start < now - older_than_s,
            throttles.c.blocked_until < now,
            throttles.c.failures == 0,
        )
    )
