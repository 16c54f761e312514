"""Per-lender request rate limit in fixed windows, counted in the database so every process shares it."""

from __future__ import annotations

import time

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from authsvc.store.schema import rate_windows


async def hit(conn: AsyncConnection, lender_id: str, *, limit: int, window_s: int, now: float | None = None) -> int:
    """Count one request; returns 0 when allowed, else the seconds until the window resets."""
    now = time.time() if now is None else now
    window = int(now // window_s) * window_s
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(rate_windows)
        .values(lender_id=lender_id, window_start=window, count=1)
        .on_conflict_do_update(index_elements=["lender_id", "window_start"], set_={"count": rate_windows.c.count + 1})
        .returning(rate_windows.c.count)
    )
    count: int = (await conn.execute(stmt)).scalar_one()
    if count > limit:
        return max(1, int(window + window_s - now + 0.999))
    return 0


async def purge(conn: AsyncConnection, *, window_s: int, now: float | None = None) -> None:
    now = time.time() if now is None else now
    await conn.execute(delete(rate_windows).where(rate_windows.c.window_start < now - 2 * window_s))
