"""The per-lender rate limit (429 with Retry-After), shared by every process through the database.

Counting in the database on every request cost a write transaction per call (about a third of a cheap
request's time). Instead each process counts locally and adds its counts to the shared window every
`flush_s`; a request is judged against the shared total last read plus this process's unflushed count.
So the limit holds across processes, overshooting by at most what the other processes admit in one
flush interval.
"""

from __future__ import annotations

import asyncio
import logging
import time

from authsvc.store import ratelimit
from authsvc.store.db import Database

log = logging.getLogger("authsvc.ratelimit")

Key = tuple[str, int]  # (lender id, window start)


class RateLimiter:
    def __init__(self, db: Database, *, limit: int, window_s: int, flush_s: float = 0.2) -> None:
        self.db, self.limit, self.window_s, self.flush_s = db, limit, window_s, flush_s
        self._unflushed: dict[Key, int] = {}
        self._flushing: dict[Key, int] = {}  # counts on their way to the database: still this process's
        self._shared: dict[Key, int] = {}

    def hit(self, lender_id: str, now: float | None = None) -> int:
        """Count one request; 0 when allowed, else the seconds until the window resets."""
        now = time.time() if now is None else now
        window = int(now // self.window_s) * self.window_s
        key = (lender_id, window)
        self._unflushed[key] = self._unflushed.get(key, 0) + 1
        if self._shared.get(key, 0) + self._flushing.get(key, 0) + self._unflushed[key] > self.limit:
            return max(1, int(window + self.window_s - now + 0.999))
        return 0

    async def flush(self, now: float | None = None) -> None:
        pending, self._unflushed = self._unflushed, {}
        if not pending:
            return
        # Counted while the write is under way (a loaded database takes a while): else the requests meanwhile
        # are judged against the old total without these, and the limit lets through up to a flush's worth more.
        self._flushing = dict(pending)
        try:
            async with self.db.transaction() as tx:
                for (lender_id, window), count in sorted(pending.items()):
                    total = await ratelimit.add(tx, lender_id, window, count)
                    self._shared[(lender_id, window)] = total
                    self._flushing.pop((lender_id, window), None)  # in the total now
        except Exception:
            for key, count in pending.items():  # keep them for the next try
                self._unflushed[key] = self._unflushed.get(key, 0) + count
            raise
        finally:
            self._flushing = {}
        now = time.time() if now is None else now
        self._shared = {k: v for k, v in self._shared.items() if k[1] >= now - 2 * self.window_s}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rate-limit flush failed; will retry")
