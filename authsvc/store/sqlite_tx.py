"""The SQLite side of `Tx`: a `Statement` compiled once and run on the connection's own thread in one hop.

Through SQLAlchemy and aiosqlite a statement cost ≈0.5 ms of CPU (issue 10): the compile-cache look-up, the
greenlet hops, and four trips to aiosqlite's thread per statement (cursor, execute, fetch, close) plus three
for the BEGIN and one for the COMMIT, each a queue put, a thread switch and a wake-up of the event loop. A
`Statement` is compiled once for SQLite here (as `db.Statement.for_asyncpg` does for PostgreSQL), its
parameters converted by SQLAlchemy's own bind processors and its rows by the result processors (so a row
holds what SQLAlchemy's would), and the whole unit — an autocommit scope's BEGIN IMMEDIATE, its statements
and the COMMIT, or every statement of one `Tx.write` — runs as ONE function on aiosqlite's thread: one hop.
The function runs to its end even when its caller is cancelled, so a connection never goes back to the pool
mid-transaction. Any other Core statement (non-hot paths) still goes through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy.dialects.sqlite import aiosqlite as sqlite_aiosqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util.concurrency import greenlet_spawn

from authsvc.store.db import (
    _INSERTS,
    Insert,
    Row,
    Statement,
    Stmt,
    Written,
    _core,
    mapped_errors,
    refuse_nul,
    split_chained,
    write_chained,
)

_LITE = sqlite_aiosqlite.dialect()
_Proc = Callable[[Any], Any] | None


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    binds: tuple[_Proc, ...]
    fixed: dict[str, Any]
    keys: tuple[str, ...]  # the row's keys, as SQLAlchemy's mapping names them
    results: tuple[_Proc, ...]

    def args(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, proc in zip(self.names, self.binds, strict=True):
            value = params[name] if name in params else self.fixed[name]
            out.append(proc(value) if proc is not None else value)
        refuse_nul(out)
        return tuple(out)


def _compiled(stmt: Statement) -> _Compiled:
    found = cast(_Compiled | None, stmt.lite)
    if found is not None:
        return found
    compiled = stmt.core.compile(dialect=_LITE)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[n] for n in names]
    columns = compiled._result_columns  # SQLAlchemy's own map of the result (no public accessor)
    found = _Compiled(
        sql=compiled.string,
        names=names,
        binds=tuple(b.type.dialect_impl(_LITE).bind_processor(_LITE) for b in binds),
        fixed={n: b.effective_value for n, b in zip(names, binds, strict=True) if not b.required},
        keys=tuple(c.keyname for c in columns),
        results=tuple(c.type.dialect_impl(_LITE).result_processor(_LITE, None) for c in columns),
    )
    stmt.lite = found
    return found


def _rows(c: _Compiled, cursor: sqlite3.Cursor, limit: int | None) -> list[Row]:
    raw = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
    if not raw:
        return []
    keys = c.keys if len(c.keys) == len(raw[0]) else tuple(d[0] for d in cursor.description)
    procs = c.results if len(c.results) == len(keys) else (None,) * len(keys)
    return [{k: (p(v) if p is not None else v) for k, p, v in zip(keys, procs, r, strict=True)} for r in raw]


# One operation on the connection's thread: (compiled, args, what to hand back).
_ONE, _ALL, _COUNT = 0, 1, 2
_Op = tuple[_Compiled, tuple[Any, ...], int]


def _execute(conn: sqlite3.Connection, c: _Compiled, args: tuple[Any, ...], kind: int) -> Any:
    cursor = conn.execute(c.sql, args)
    try:
        if kind == _COUNT:
            cursor.fetchall()  # a RETURNING statement counts its rows only once they are read
            return cursor.rowcount
        if cursor.description is None:
            return None if kind == _ONE else []
        rows = _rows(c, cursor, 1 if kind == _ONE else None)
        return (rows[0] if rows else None) if kind == _ONE else rows
    finally:
        cursor.close()


def _in_transaction(conn: sqlite3.Connection, work: Callable[[], Any]) -> Any:
    """``work`` between BEGIN IMMEDIATE and COMMIT (rolled back on any error), all on the calling thread."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        out = work()
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return out


async def _hop(conn: AsyncConnection, work: Callable[[sqlite3.Connection], Any]) -> Any:
    """Run ``work(sqlite3 connection)`` on aiosqlite's thread: one queue put, one wake-up."""
    sync = conn.sync_connection
    fairy = sync.connection if sync is not None else await conn.get_raw_connection()  # checked out: no I/O
    return await _on_thread(fairy.driver_connection, work)


async def _on_thread(aio: Any, work: Callable[[sqlite3.Connection], Any]) -> Any:
    # aiosqlite's own queue to its thread (`Connection._execute`, what each of its methods calls).
    return await aio._execute(lambda: work(aio._conn))


def _write_ops(
    rows: Sequence[Insert],
    first: Statement | None,
    only_if: bool,
    also: Sequence[Statement],
    then: Sequence[Statement],
    params: Mapping[str, Any],
) -> Callable[[sqlite3.Connection], Row | None]:
    """`Tx.write` as consecutive statements, for one hop (atomic inside the caller's transaction)."""
    if then and first is None:
        raise TypeError("`then` statements need a `first` to depend on")
    head = (_compiled(first), _compiled(first).args(params)) if first is not None else None
    alsos = [(_compiled(s), _compiled(s).args(params)) for s in also]
    thens = [(_compiled(s), _compiled(s).args(params)) for s in then]
    inserts = []
    for r in rows:
        c = _compiled(_insert_of(r.table, tuple(r.values)))
        inserts.append((c, c.args(r.values)))

    def work(conn: sqlite3.Connection) -> Row | None:
        row = _execute(conn, head[0], head[1], _ONE) if head is not None else None
        for c, args in alsos:
            _execute(conn, c, args, _COUNT)
        if row is not None:
            for c, args in thens:
                _execute(conn, c, args, _COUNT)
        if only_if and row is None:
            return None
        for c, args in inserts:
            _execute(conn, c, args, _COUNT)
        return cast(Row | None, row)

    return work


def _insert_of(table: Table, cols: tuple[str, ...]) -> Statement:
    stmt = _INSERTS.get((table.name, cols))
    if stmt is None:
        stmt = _INSERTS[(table.name, cols)] = Statement(insert(table).values({c: bindparam(c) for c in cols}))
    return stmt


def _insert_many(table: Table, rows: Sequence[Mapping[str, Any]]) -> Callable[[sqlite3.Connection], None]:
    c = _compiled(_insert_of(table, tuple(rows[0])))
    batch = [c.args(r) for r in rows]

    def work(conn: sqlite3.Connection) -> None:
        conn.executemany(c.sql, batch).close()

    return work


class SqlaTx:
    """A `Tx` inside a SQLAlchemy transaction: on SQLite `Statement`s in one hop each, other Core statements
    (and everything on a PostgreSQL engine without an asyncpg pool: tests) through SQLAlchemy."""

    __slots__ = ("conn", "lite")

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.lite = conn.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return str(self.conn.dialect.name)

    async def _op(self, stmt: Statement, params: Mapping[str, Any], kind: int) -> Any:
        c = _compiled(stmt)
        args = c.args(params)
        return await _hop(self.conn, lambda conn: _execute(conn, c, args, kind))

    async def _slow_write(
        self,
        rows: Sequence[Insert],
        first: Statement | None,
        only_if: bool,
        also: Sequence[Statement],
        then: Sequence[Statement],
        params: Mapping[str, Any],
    ) -> Row | None:
        # Consecutive statements: atomic because the caller holds a transaction.
        if then and first is None:
            raise TypeError("`then` statements need a `first` to depend on")
        row = await self.one(first.core, **params) if first is not None else None
        for stmt in also:
            await self.run(stmt.core, **params)
        if row is not None:
            for stmt in then:
                await self.run(stmt.core, **params)
        if only_if and row is None:
            return None
        for r in rows:
            await self.conn.execute(r.table.insert().values(dict(r.values)))
        return row

    async def one(self, stmt: Stmt, /, **params: Any) -> Row | None:
        if isinstance(stmt, Statement) and self.lite:
            return cast(Row | None, await self._op(stmt, params, _ONE))
        return cast(Row | None, (await self.conn.execute(_core(stmt), params or None)).mappings().first())

    async def all(self, stmt: Stmt, /, **params: Any) -> Sequence[Row]:
        if isinstance(stmt, Statement) and self.lite:
            return cast(Sequence[Row], await self._op(stmt, params, _ALL))
        return cast(Sequence[Row], (await self.conn.execute(_core(stmt), params or None)).mappings().all())

    async def scalar(self, stmt: Stmt, /, **params: Any) -> Any:
        if isinstance(stmt, Statement) and self.lite:
            row = await self._op(stmt, params, _ONE)
            return next(iter(row.values())) if row else None
        return (await self.conn.execute(_core(stmt), params or None)).scalar()

    async def run(self, stmt: Stmt, /, **params: Any) -> int:
        if isinstance(stmt, Statement) and self.lite:
            return int(await self._op(stmt, params, _COUNT))
        result = await self.conn.execute(_core(stmt), params or None)
        return int(result.rowcount)

    async def insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]], /) -> None:
        if rows and self.lite:
            await _hop(self.conn, _insert_many(table, rows))
        elif rows:
            await self.conn.execute(table.insert(), [dict(r) for r in rows])

    async def write(
        self,
        rows: Sequence[Written],
        /,
        *,
        first: Statement | None = None,
        only_if: bool = False,
        also: Sequence[Statement] = (),
        then: Sequence[Statement] = (),
        **params: Any,
    ) -> Row | None:
        plain, chained = split_chained(rows)
        if not self.lite:
            row = await self._slow_write(plain, first, only_if, also, then, params)
        else:
            row = cast(Row | None, await _hop(self.conn, _write_ops(plain, first, only_if, also, then, params)))
        return row if chained is None else await write_chained(self, chained, row, first is not None)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        with mapped_errors():
            async with self.conn.begin_nested():
                yield


class SqliteAutocommit:
    """A `Tx` whose every call runs in its own transaction (BEGIN IMMEDIATE … COMMIT), as on PostgreSQL: a
    `Statement` (or a `Tx.write`) with its BEGIN and COMMIT in one hop."""

    __slots__ = ("engine", "lite")

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.lite = engine.dialect.name == "sqlite"

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    async def _alone(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        # The pool's connection itself (half the CPU of an `AsyncConnection`), no SQLAlchemy transaction:
        # the BEGIN and the COMMIT are in the function that runs on the thread.
        fairy = await greenlet_spawn(self.engine.sync_engine.pool.connect)
        try:
            result = await _on_thread(fairy.driver_connection, lambda raw: _in_transaction(raw, lambda: work(raw)))
        finally:
            fairy.close()
        # The release woke the next waiter, but asyncio's queue gives the connection to whoever asks first: a
        # caller asking again at once (a tight loop) starved the chainer and the outboxes past the pool's 10 s
        # timeout. One turn of the loop lets the woken task take it first.
        await asyncio.sleep(0)
        return result

    async def _op(self, stmt: Statement, params: Mapping[str, Any], kind: int) -> Any:
        c = _compiled(stmt)
        args = c.args(params)
        return await self._alone(lambda conn: _execute(conn, c, args, kind))

    async def one(self, stmt: Stmt, /, **params: Any) -> Row | None:
        if isinstance(stmt, Statement) and self.lite:
            return cast(Row | None, await self._op(stmt, params, _ONE))
        async with self.engine.begin() as conn:
            return await SqlaTx(conn).one(stmt, **params)

    async def all(self, stmt: Stmt, /, **params: Any) -> Sequence[Row]:
        if isinstance(stmt, Statement) and self.lite:
            return cast(Sequence[Row], await self._op(stmt, params, _ALL))
        async with self.engine.begin() as conn:
            return await SqlaTx(conn).all(stmt, **params)

    async def scalar(self, stmt: Stmt, /, **params: Any) -> Any:
        if isinstance(stmt, Statement) and self.lite:
            row = await self._op(stmt, params, _ONE)
            return next(iter(row.values())) if row else None
        async with self.engine.begin() as conn:
            return await SqlaTx(conn).scalar(stmt, **params)

    async def run(self, stmt: Stmt, /, **params: Any) -> int:
        if isinstance(stmt, Statement) and self.lite:
            return int(await self._op(stmt, params, _COUNT))
        async with self.engine.begin() as conn:
            return await SqlaTx(conn).run(stmt, **params)

    async def insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]], /) -> None:
        if rows and self.lite:
            await self._alone(_insert_many(table, rows))
        elif rows:
            async with self.engine.begin() as conn:
                await SqlaTx(conn).insert_many(table, rows)

    async def write(
        self,
        rows: Sequence[Written],
        /,
        *,
        first: Statement | None = None,
        only_if: bool = False,
        also: Sequence[Statement] = (),
        then: Sequence[Statement] = (),
        **params: Any,
    ) -> Row | None:
        if not self.lite:
            async with self.engine.begin() as conn:
                return await SqlaTx(conn).write(rows, first=first, only_if=only_if, also=also, then=then, **params)
        # A `Chained` change commits on its own after the write's (each statement of a scope commits alone).
        plain, chained = split_chained(rows)
        row = cast(Row | None, await self._alone(_write_ops(plain, first, only_if, also, then, params)))
        return row if chained is None else await write_chained(self, chained, row, first is not None)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        yield  # every statement is its own transaction already
