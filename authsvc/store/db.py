"""Store statements that run on either backend, at driver speed on PostgreSQL.

Most store code runs SQLAlchemy Core through an ``AsyncConnection``. That costs ≈200 µs of CPU per
statement (compile-cache look-up, greenlet hops, result wrapping) where asyncpg alone needs ≈35 µs, and the
hot paths (a one-time code verified thousands of times a second on one core, issue 5) cannot afford it.
So a hot statement is a `Statement`: a Core statement built once, at import, with named ``bindparam``s.
On PostgreSQL it is compiled once for asyncpg's dialect and then runs as a prepared statement on a plain
asyncpg pool (`Database`); on SQLite, the embedded default where throughput is not the goal, the same
statement runs through SQLAlchemy. Store functions take a `Conn` (a `Tx` or an ``AsyncConnection``), so one
function serves both the fast transactions and every older caller's SQLAlchemy transaction.

Every round trip costs ≈45 µs of the service's CPU here, so `Tx.write` sends an UPDATE and the rows that go
with it (a code marked used, the identification step, the audit entry) as ONE statement on PostgreSQL — a
data-modifying CTE, atomic without BEGIN/COMMIT — and as consecutive statements in the caller's
transaction through SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import Table, bindparam, exists, insert, literal, select
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Executable

Row = Mapping[str, Any]
# What the asyncpg path raises when the database is down or refuses (SQLAlchemy wraps these as SQLAlchemyError).
DRIVER_ERRORS: tuple[type[Exception], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)

_PG = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]
# SQL text, parameter names in order, their bind conversions, values of the statement's own literals.
_Compiled = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...], dict[str, Any]]


class Statement:
    """A Core statement with named bind parameters, compiled at most once per backend."""

    __slots__ = ("_pg", "core")

    def __init__(self, core: Executable) -> None:
        self.core = core
        self._pg: _Compiled | None = None

    def for_asyncpg(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL text ($1, $2, …) and its arguments in order, with SQLAlchemy's bind conversions."""
        if self._pg is None:
            self._pg = _compile_for_asyncpg(self.core)
        sql, names, procs, fixed = self._pg
        args = []
        for name, proc in zip(names, procs, strict=True):
            value = params[name] if name in params else fixed[name]
            args.append(proc(value) if proc is not None else value)
        return sql, args


def _compile_for_asyncpg(core: Executable) -> _Compiled:
    compiled = core.compile(dialect=_PG)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[n] for n in names]
    procs = tuple(b.type.dialect_impl(_PG).bind_processor(_PG) for b in binds)
    # Literals written into the statement (``count=1``) become anonymous parameters with fixed values.
    fixed = {n: b.effective_value for n, b in zip(names, binds, strict=True) if not b.required}
    return compiled.string, names, procs, fixed


@dataclass(frozen=True)
class Insert:
    """One row to insert into ``table`` (column -> value), written by `Tx.write`."""

    table: Table
    values: Mapping[str, Any]


class Tx(Protocol):
    """One open transaction (or connection) that runs `Statement`s."""

    async def one(self, stmt: Statement, /, **params: Any) -> Row | None: ...

    async def all(self, stmt: Statement, /, **params: Any) -> Sequence[Row]: ...

    async def run(self, stmt: Statement, /, **params: Any) -> int:
        """Execute; the number of rows written."""
        ...

    async def insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]], /) -> None:
        """Insert many rows with the same columns (batch jobs: the audit chainer)."""
        ...

    async def write(
        self,
        rows: Sequence[Insert],
        /,
        *,
        first: Statement | None = None,
        only_if: bool = False,
        also: Sequence[Statement] = (),
        **params: Any,
    ) -> Row | None:
        """Run ``first`` (an UPDATE … RETURNING) and the ``also`` statements (with ``params``, names shared)
        and insert ``rows``, all or nothing; with ``only_if`` the rows are inserted only when ``first``
        returned a row (``also`` runs regardless). Returns ``first``'s row."""
        ...


Conn = Tx | AsyncConnection


class SqlaTx:
    """A `Tx` over a SQLAlchemy connection (SQLite, and any caller already inside a Core transaction)."""

    __slots__ = ("conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def one(self, stmt: Statement, /, **params: Any) -> Row | None:
        return cast(Row | None, (await self.conn.execute(stmt.core, params)).mappings().one_or_none())

    async def all(self, stmt: Statement, /, **params: Any) -> Sequence[Row]:
        return cast(Sequence[Row], (await self.conn.execute(stmt.core, params)).mappings().all())

    async def run(self, stmt: Statement, /, **params: Any) -> int:
        result = await self.conn.execute(stmt.core, params)
        return int(result.rowcount)

    async def insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]], /) -> None:
        if rows:
            await self.conn.execute(table.insert(), [dict(r) for r in rows])

    async def write(
        self,
        rows: Sequence[Insert],
        /,
        *,
        first: Statement | None = None,
        only_if: bool = False,
        also: Sequence[Statement] = (),
        **params: Any,
    ) -> Row | None:
        # Consecutive statements: atomic because the caller holds a transaction.
        row = await self.one(first, **params) if first is not None else None
        for stmt in also:
            await self.run(stmt, **params)
        if only_if and row is None:
            return None
        for r in rows:
            await self.conn.execute(r.table.insert().values(dict(r.values)))
        return row


class PgTx:
    """A `Tx` over an asyncpg connection: the statement's SQL is prepared once per connection by asyncpg."""

    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def one(self, stmt: Statement, /, **params: Any) -> Row | None:
        sql, args = stmt.for_asyncpg(params)
        row: Row | None = await self.conn.fetchrow(sql, *args)
        return row

    async def all(self, stmt: Statement, /, **params: Any) -> Sequence[Row]:
        sql, args = stmt.for_asyncpg(params)
        rows: Sequence[Row] = await self.conn.fetch(sql, *args)
        return rows

    async def run(self, stmt: Statement, /, **params: Any) -> int:
        sql, args = stmt.for_asyncpg(params)
        status: str = await self.conn.execute(sql, *args)  # "UPDATE 1", "INSERT 0 1", "DELETE 3"
        tail = status.rpartition(" ")[2]
        return int(tail) if tail.isdigit() else 0

    async def insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]], /) -> None:
        if not rows:
            return
        cols = tuple(rows[0])
        stmt = _INSERTS.get((table.name, cols))
        if stmt is None:
            stmt = _INSERTS[(table.name, cols)] = Statement(insert(table).values({c: bindparam(c) for c in cols}))
        sql, _ = stmt.for_asyncpg(rows[0])
        await self.conn.executemany(sql, [stmt.for_asyncpg(r)[1] for r in rows])  # pipelined: one round trip

    async def write(
        self,
        rows: Sequence[Insert],
        /,
        *,
        first: Statement | None = None,
        only_if: bool = False,
        also: Sequence[Statement] = (),
        **params: Any,
    ) -> Row | None:
        shapes = tuple((r.table, tuple(r.values)) for r in rows)
        stmt = _combined(first, only_if, tuple(also), shapes)
        for i, r in enumerate(rows):
            params.update({f"r{i}_{col}": value for col, value in r.values.items()})
        return await self.one(stmt, **params)


_Shape = tuple[tuple[Table, tuple[str, ...]], ...]
_INSERTS: dict[tuple[str, tuple[str, ...]], Statement] = {}
_COMBINED: dict[tuple[int, bool, tuple[int, ...], tuple[tuple[str, tuple[str, ...]], ...]], Statement] = {}


def _combined(first: Statement | None, only_if: bool, also: tuple[Statement, ...], shapes: _Shape) -> Statement:
    """One PostgreSQL statement for `Tx.write`, built once per shape (which statements, tables, columns)."""
    key = (id(first), only_if, tuple(id(a) for a in also), tuple((t.name, cols) for t, cols in shapes))
    stmt = _COMBINED.get(key)
    if stmt is not None:
        return stmt
    guard = first.core.cte("first") if first is not None else None  # type: ignore[attr-defined]
    parts = [a.core.cte(f"a{i}") for i, a in enumerate(also)]  # type: ignore[attr-defined]
    for i, (table, cols) in enumerate(shapes):
        values = select(*[bindparam(f"r{i}_{c}", type_=table.c[c].type) for c in cols])
        if only_if and guard is not None:
            values = values.where(exists(select(literal(1)).select_from(guard)))
        parts.append(insert(table).from_select(list(cols), values).cte(f"r{i}"))
    # Data-modifying CTEs all run, referenced or not; the outer SELECT hands back the update's row.
    outer = select(guard) if guard is not None else select(literal(1).label("done"))
    stmt = Statement(outer.add_cte(*parts))
    if len(_COMBINED) < 256:  # a handful of shapes exist; never grow without bound
        _COMBINED[key] = stmt
    return stmt


def as_tx(conn: Conn) -> Tx:
    return SqlaTx(conn) if isinstance(conn, AsyncConnection) else conn


async def _keep_session(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL) is one more round trip per
    # transaction. Nothing here changes session state, and a transaction always ends by its context manager.
    return None


class Database:
    """Transactions for hot paths: asyncpg on PostgreSQL, the SQLAlchemy engine on SQLite."""

    def __init__(self, engine: AsyncEngine, pool: asyncpg.Pool | None = None) -> None:
        self.engine = engine
        self.pool = pool

    @classmethod
    async def open(cls, engine: AsyncEngine, dsn: str, *, pool_size: int) -> Database:
        if engine.dialect.name != "postgresql":
            return cls(engine)
        url = make_url(dsn).set(drivername="postgresql").render_as_string(hide_password=False)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=max(1, pool_size), reset=_keep_session)
        return cls(engine, pool)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Tx]:
        """A connection whose every statement (each `Tx.write` included) commits on its own on PostgreSQL;
        on SQLite a transaction, so the same code is atomic per statement there too."""
        if self.pool is None:
            async with self.engine.begin() as conn:
                yield SqlaTx(conn)
            return
        async with self.pool.acquire() as conn:
            yield PgTx(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        if self.pool is None:
            async with self.engine.begin() as conn:
                yield SqlaTx(conn)
            return
        async with self.pool.acquire() as conn, conn.transaction():
            yield PgTx(conn)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
