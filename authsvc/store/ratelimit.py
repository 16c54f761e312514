"""Per-lender request counts in fixed windows, kept in the database so every process shares them."""

from __future__ import annotations

import time

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from authsvc.store.db import Tx
from authsvc.store.schema import rate_windows


async def add(tx: Tx, lender_id: str, window_start: int, count: int) -> int:
    """Add ``count`` requests to a window; returns the window's total over all processes."""
    insert = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(rate_windows)
        .values(lender_id=lender_id, window_start=window_start, count=count)
        .on_conflict_do_update(
            index_elements=["lender_id", "window_start"], set_={"count": rate_windows.c.count + count}
        )
        .returning(rate_windows.c.count)
    )
    total: int = await tx.scalar(stmt)
    return total


async def purge(tx: Tx, *, window_s: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    await tx.run(delete(rate_windows).where(rate_windows.c.window_start < now - 2 * window_s))
