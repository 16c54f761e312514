"""asyncpg's pool, with the connections its scopes gave back cleanly kept at hand for the next scope.

Taking a connection from asyncpg's pool and giving it back costs ≈ 20–45 µs of CPU (a queue, a proxy and a
future per acquire; per release a task of its own (`asyncio.shield`), a timeout scope and the inactivity timer
re-armed): a fifth of an authenticated one-row request (issue 15, `benchmarks/bench_path_parts.py`). A
`Database` scope that ended without an error, or with the service's own refusal (a 404 raised between
statements), leaves its connection as the next one needs it (no transaction open, no listener: `Database`
scopes add none), so `give_back` keeps it on a stack, newest on top, and `take` hands it out again without
asyncpg. It goes back to asyncpg's pool instead when the scope failed otherwise (a driver error, a
cancellation), when it is closed or in a transaction, when someone waits on the pool for a connection (so
nobody starves), and when it has lain unused for ``idle_s`` (so asyncpg's own upkeep closes what a quiet
service no longer needs). `acquire` (the bells' LISTEN and NOTIFY, tests) takes from the stack too, but gives
back to asyncpg's pool always.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

import asyncpg


class LendingPool:
    __slots__ = ("_idle", "_waiting", "idle_s", "pool")

    def __init__(self, pool: asyncpg.Pool, *, idle_s: float = 10.0) -> None:
        self.pool, self.idle_s = pool, idle_s
        self._idle: list[tuple[float, Any]] = []  # (given back at, connection), the newest last
        self._waiting = 0  # tasks waiting on asyncpg's pool for a connection

    def get_max_size(self) -> int:
        size: int = self.pool.get_max_size()
        return size

    async def take(self) -> Any:
        """A connection: the newest kept one that is still open, else asyncpg's."""
        while self._idle:
            conn = self._idle.pop()[1]
            if _open(conn):
                return conn
            await self.pool.release(conn)  # asyncpg finishes it (if it did not already) and opens another
        self._waiting += 1
        try:
            return await self.pool.acquire()
        finally:
            self._waiting -= 1

    async def give_back(self, conn: Any) -> None:
        """``conn`` after a scope that ended cleanly: kept for the next scope when it is fit for one."""
        if self._waiting or not _open(conn) or conn.is_in_transaction():
            await self.pool.release(conn)
            return
        now = time.monotonic()
        self._idle.append((now, conn))
        if self._idle[0][0] < now - self.idle_s:
            await self.pool.release(self._idle.pop(0)[1])

    async def release(self, conn: Any) -> None:
        """``conn`` back to asyncpg's pool (its reset: rolled back, listeners dropped, or replaced)."""
        await self.pool.release(conn)

    def acquire(self) -> _Acquired:
        """A connection (awaited, or ``async with``) that goes back to asyncpg's pool, whatever was done on it."""
        return _Acquired(self)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for _, conn in idle:
            await self.pool.release(conn)
        await self.pool.close()


def _open(conn: Any) -> bool:
    # A connection the server closed is given back to asyncpg's pool by asyncpg itself, which detaches the
    # proxy we hold (its methods then raise InterfaceError).
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


class _Acquired:
    __slots__ = ("conn", "lending")

    def __init__(self, lending: LendingPool) -> None:
        self.lending, self.conn = lending, None

    def __await__(self) -> Generator[Any, None, Any]:
        return self.lending.take().__await__()

    async def __aenter__(self) -> Any:
        self.conn = await self.lending.take()
        return self.conn

    async def __aexit__(self, *exc: object) -> None:
        conn, self.conn = self.conn, None
        await self.lending.release(conn)
