"""Per-lender request counts in fixed windows, kept in the database so every process shares them."""

from __future__ import annotations

import time

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from authsvc.store.db import Statement, Tx
from authsvc.store.schema import rate_windows


def _add(dialect: postgresql.dml.Insert | sqlite.dml.Insert) -> Statement:
    upsert = dialect.values(
        lender_id=bindparam("lender_id"), window_start=bindparam("window_start"), count=bindparam("count")
    )
    return Statement(
        upsert.on_conflict_do_update(
            index_elements=["lender_id", "window_start"], set_={"count": rate_windows.c.count + upsert.excluded.count}
        ).returning(rate_windows.c.count)
    )


# Built once: each process flushes its counts every 0.2 s, and compiling the upsert each time cost more CPU than
# the flush's round trip.
_ADD = {"postgresql": _add(postgresql.insert(rate_windows)), "sqlite": _add(sqlite.insert(rate_windows))}


async def add(tx: Tx, lender_id: str, window_start: int, count: int) -> int:
    """Add ``count`` requests to a window; returns the window's total over all processes."""
    total: int = await tx.scalar(_ADD[tx.dialect], lender_id=lender_id, window_start=window_start, count=count)
    return total


async def purge(tx: Tx, *, window_s: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    await tx.run(delete(rate_windows).where(rate_windows.c.window_start < now - 2 * window_s))
