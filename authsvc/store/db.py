"""One way to run SQL on either backend: the `Tx` protocol, opened by `Database`, at driver speed on PostgreSQL.

Store functions take a `Tx`, nothing else. A caller says what it wants: `Database.transaction()` (all or
nothing) or `Database.autocommit()` (each statement, each `Tx.write` included, commits on its own — on both
backends alike: on SQLite each statement runs in its own BEGIN IMMEDIATE … COMMIT).

SQLAlchemy Core costs ≈200 µs of CPU per statement (compile-cache look-up, greenlet hops, result wrapping)
where asyncpg alone needs ≈35 µs, and the hot paths (a one-time code verified thousands of times a second on
one core) cannot afford it. So a hot statement is a `Statement`: a Core statement built once, at import, with
named ``bindparam``s, compiled once for asyncpg's dialect and run as a prepared statement on a plain asyncpg
pool. Any other Core statement (non-hot paths) is compiled for asyncpg when it runs, its literal values
included. On SQLite a `Statement` is compiled once too and run on the connection's thread in one hop, its
transaction's BEGIN and COMMIT with it (`authsvc.store.sqlite_tx`); other Core statements go through SQLAlchemy.
The schema's types are plain (String, Integer, Boolean, DateTime(tz), LargeBinary, Text), so asyncpg's rows
hold the same Python values SQLAlchemy's would.

Every round trip costs ≈45 µs of the service's CPU here, so `Tx.write` sends an UPDATE and the rows that go
with it (a code marked used, the identification step, the audit entry) as ONE statement on PostgreSQL — a
data-modifying CTE, atomic without BEGIN/COMMIT — and as consecutive statements in one hop to SQLite's thread.
A `Chained` change goes in the same statement too (the end a one-time code's step decides), after the rows
and only when the write's own guard changed a row.

Driver errors are mapped once, where a `Database` scope (or a `Tx.savepoint`) ends, to `authsvc.store.errors`:
`Duplicate`, `BadInput`, `Unavailable`. Text values with a NUL byte are refused before they reach either
driver (`BadInput`), so both backends answer alike.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import Table, bindparam, exists, insert, literal, select, true
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Delete, Update
from sqlalchemy.sql.dml import Insert as DmlInsert
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.expression import Executable
from sqlalchemy.sql.visitors import replacement_traverse

from authsvc.errors import AuthsvcError
from authsvc.store.errors import BadInput, Duplicate, Unavailable
from authsvc.store.lending import LendingPool

log = logging.getLogger("authsvc.store")

Row = Mapping[str, Any]
# What the asyncpg path raises when the database is down or refuses (SQLAlchemy wraps these as SQLAlchemyError).
DRIVER_ERRORS: tuple[type[Exception], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. a connection left mid-operation when its server process was killed
    ConnectionError,
    sqlite3.Error,  # the SQLite path runs `Statement`s on the sqlite3 connection itself (`sqlite_tx`)
)
# Errors after which a pooled connection's state is unknown: it is closed, not handed to the next caller.
_BROKEN_CONNECTION: tuple[type[Exception], ...] = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
    OSError,
)
# What `mapped_errors` maps: also socket errors and timeouts, which asyncpg raises as they are.
_MAPPED: tuple[type[Exception], ...] = (SQLAlchemyError, *DRIVER_ERRORS, OSError, asyncio.TimeoutError)

_PG = pg_asyncpg.dialect()  # type: ignore[no-untyped-call]
# SQL text, parameter names in order, their bind conversions, values of the statement's own literals.
_Compiled = tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...], dict[str, Any]]


class Statement:
    """A Core statement with named bind parameters, compiled at most once per backend."""

    __slots__ = ("_pg", "core", "lite")

    def __init__(self, core: Executable) -> None:
        self.core = core
        self._pg: _Compiled | None = None
        self.lite: object | None = None  # compiled for SQLite by `authsvc.store.sqlite_tx`

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


Stmt = Statement | Executable


def _compile_for_asyncpg(core: Executable) -> _Compiled:
    compiled = core.compile(dialect=_PG)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[n] for n in names]
    procs = tuple(b.type.dialect_impl(_PG).bind_processor(_PG) for b in binds)
    # Literals written into the statement (``count=1``) become anonymous parameters with fixed values.
    fixed = {n: b.effective_value for n, b in zip(names, binds, strict=True) if not b.required}
    return compiled.string, names, procs, fixed


def _adhoc_for_asyncpg(core: Executable, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """An ad-hoc Core statement compiled now, its literal values and IN lists rendered as parameters."""
    compiled = core.compile(dialect=_PG, compile_kwargs={"render_postcompile": True})  # type: ignore[attr-defined]
    values = compiled.construct_params(dict(params) if params else None)
    args = []
    for name in compiled.positiontup or ():
        bind = compiled.binds.get(name)
        proc = bind.type.dialect_impl(_PG).bind_processor(_PG) if bind is not None else None
        value = values[name]
        args.append(proc(value) if proc is not None else value)
    return str(compiled.string), args


def _sql_args(stmt: Stmt, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
    sql, args = stmt.for_asyncpg(params) if isinstance(stmt, Statement) else _adhoc_for_asyncpg(stmt, params)
    refuse_nul(args)
    return sql, args


def _core(stmt: Stmt) -> Executable:
    return stmt.core if isinstance(stmt, Statement) else stmt


def refuse_nul(values: Iterable[Any]) -> None:
    """PostgreSQL cannot store a NUL byte in text; refuse it on every backend before the driver sees it."""
    for value in values:
        if value.__class__ is str and "\x00" in value:
            raise BadInput("a text value contains a NUL character (U+0000)")


@dataclass(frozen=True)
class Insert:
    """One row to insert into ``table`` (column -> value), written by `Tx.write`."""

    table: Table
    values: Mapping[str, Any]


class Chained:
    """A second conditional change that a `Tx.write` makes after the one it is given with, only when that
    write's ``first`` returned a row: ``guard`` (an UPDATE … RETURNING; ``params`` its parameters and those of
    ``then``, names not shared with the write's), then ``rows`` and ``then`` only when ``guard`` returned a row
    too. On PostgreSQL one statement with the write (a step and the end it decides: one round trip), elsewhere
    the next statement in the same hop's order. ``row``: what ``guard`` returned, once written (None: nothing)."""

    __slots__ = ("guard", "params", "row", "rows", "then")

    def __init__(
        self,
        guard: Statement,
        rows: Sequence[Insert],
        then: Sequence[Statement] = (),
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.guard, self.rows, self.then, self.params = guard, tuple(rows), tuple(then), dict(params or {})
        self.row: Row | None = None


Written = Insert | Chained  # what `Tx.write` writes: rows, and at most one `Chained` change after them


def split_chained(rows: Sequence[Written]) -> tuple[list[Insert], Chained | None]:
    """The plain rows of a `Tx.write` and its `Chained` change (TypeError for more than one)."""
    plain = [r for r in rows if isinstance(r, Insert)]
    chained = [r for r in rows if isinstance(r, Chained)]
    if len(chained) > 1:
        raise TypeError("one `Chained` change per write")
    return plain, chained[0] if chained else None


class Tx(Protocol):
    """One open transaction (or autocommit scope) that runs `Statement`s and any other Core statement."""

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``: for the few statements whose form differs (ON CONFLICT)."""
        ...

    async def one(self, stmt: Stmt, /, **params: Any) -> Row | None:
        """The first row, or None."""
        ...

    async def all(self, stmt: Stmt, /, **params: Any) -> Sequence[Row]: ...

    async def scalar(self, stmt: Stmt, /, **params: Any) -> Any:
        """The first column of the first row, or None."""
        ...

    async def run(self, stmt: Stmt, /, **params: Any) -> int:
        """Execute; the number of rows written."""
        ...

    async def insert_many(self, table: Table, rows: Sequence[Mapping[str, Any]], /) -> None:
        """Insert many rows with the same columns (batch jobs: the audit chainer)."""
        ...

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
        """Run ``first`` (an UPDATE … RETURNING) and the ``also`` statements (with ``params``, names shared)
        and insert ``rows``, all or nothing; with ``only_if`` the rows are inserted only when ``first``
        returned a row (``also`` runs regardless). The ``then`` statements (UPDATE, DELETE or INSERT …
        SELECT) run only when ``first`` returned a row, whatever ``only_if``. A `Chained` change among
        ``rows`` is made after them when ``first`` returned a row (or there is no ``first``). Returns
        ``first``'s row."""
        ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested scope rolled back alone on error (its driver errors mapped, like a `Database` scope's)."""
        ...


class PgTx:
    """A `Tx` over an asyncpg connection: the statement's SQL is prepared once per connection by asyncpg."""

    __slots__ = ("conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @property
    def dialect(self) -> str:
        return "postgresql"

    async def one(self, stmt: Stmt, /, **params: Any) -> Row | None:
        sql, args = _sql_args(stmt, params)
        row: Row | None = await self.conn.fetchrow(sql, *args)
        return row

    async def all(self, stmt: Stmt, /, **params: Any) -> Sequence[Row]:
        sql, args = _sql_args(stmt, params)
        rows: Sequence[Row] = await self.conn.fetch(sql, *args)
        return rows

    async def scalar(self, stmt: Stmt, /, **params: Any) -> Any:
        sql, args = _sql_args(stmt, params)
        return await self.conn.fetchval(sql, *args)

    async def run(self, stmt: Stmt, /, **params: Any) -> int:
        sql, args = _sql_args(stmt, params)
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
        batch = [stmt.for_asyncpg(r)[1] for r in rows]
        for args in batch:
            refuse_nul(args)
        await self.conn.executemany(sql, batch)  # pipelined: one round trip

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
        if then and first is None:
            raise TypeError("`then` statements need a `first` to depend on")
        plain, chained = split_chained(rows)
        if chained is not None and first is None:  # nothing to hang it on: the next statement instead
            await self.write(plain, also=also, **params)
            return await write_chained(self, chained, None)
        shapes = tuple((r.table, tuple(r.values)) for r in plain)
        chain = None
        if chained is not None:
            # Its parameters in a namespace of their own (`_namespaced`): both changes may well name a "now".
            chain = (chained.guard, chained.then, tuple((r.table, tuple(r.values)) for r in chained.rows))
            params.update({_CHAIN_PARAM + k: v for k, v in chained.params.items()})
            for i, r in enumerate(chained.rows):
                params.update({f"c{i}_{col}": value for col, value in r.values.items()})
        stmt = _combined(first, only_if, tuple(also), tuple(then), shapes, chain)
        for i, r in enumerate(plain):
            params.update({f"r{i}_{col}": value for col, value in r.values.items()})
        row = await self.one(stmt, **params)
        if chained is not None and row is not None and row[_CHAIN_WON]:
            n = len(_CHAIN)
            chained.row = {k[n:]: v for k, v in row.items() if k.startswith(_CHAIN) and k != _CHAIN_WON}
        return row

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        with mapped_errors():
            async with self.conn.transaction():  # nested in a transaction: a SAVEPOINT
                yield


async def write_chained(tx: Tx, chained: Chained, first_row: Row | None, has_first: bool = False) -> Row | None:
    """A `Chained` change as a write of its own, after the one it came with (``first_row``: what that write's
    ``first`` returned; ``has_first``: it had one): the backends without one statement for both."""
    if not has_first or first_row is not None:
        chained.row = await tx.write(
            chained.rows, first=chained.guard, only_if=True, then=chained.then, **chained.params
        )
    return first_row


_Shape = tuple[tuple[Table, tuple[str, ...]], ...]
_Chain = tuple[Statement, tuple[Statement, ...], _Shape]
_INSERTS: dict[tuple[str, tuple[str, ...]], Statement] = {}
_ComboKey = tuple[Any, ...]
_COMBINED: dict[_ComboKey, Statement] = {}
_CHAIN = "chain_"  # the prefix of a `Chained` guard's columns in a write's row
_CHAIN_WON = "chain__won"
_CHAIN_PARAM = "c__"  # the prefix of a `Chained` change's parameters in the write's statement


def _namespaced(core: Executable) -> Any:
    """``core`` with each named parameter ``x`` renamed ``c__x`` (its literals unchanged)."""

    def rename(element: Any, **_kw: Any) -> Any:
        if isinstance(element, BindParameter) and element.required:
            return bindparam(_CHAIN_PARAM + str(element.key), type_=element.type, required=True)
        return None

    return replacement_traverse(cast(Any, core), {}, rename)


def _shape_key(shapes: _Shape) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((t.name, cols) for t, cols in shapes)


def _combined(
    first: Statement | None,
    only_if: bool,
    also: tuple[Statement, ...],
    then: tuple[Statement, ...],
    shapes: _Shape,
    chain: _Chain | None = None,
) -> Statement:
    """One PostgreSQL statement for `Tx.write`, built once per shape (which statements, tables, columns)."""
    key = (
        id(first),
        only_if,
        tuple(id(a) for a in also),
        tuple(id(t) for t in then),
        _shape_key(shapes),
        None if chain is None else (id(chain[0]), tuple(id(t) for t in chain[1]), _shape_key(chain[2])),
    )
    stmt = _COMBINED.get(key)
    if stmt is not None:
        return stmt
    guard = first.core.cte("first") if first is not None else None  # type: ignore[attr-defined]
    parts = [a.core.cte(f"a{i}") for i, a in enumerate(also)]  # type: ignore[attr-defined]
    if guard is not None:
        won = exists(select(literal(1)).select_from(guard))
        parts += [_gated(t.core, won).cte(f"t{i}") for i, t in enumerate(then)]
    for i, (table, cols) in enumerate(shapes):
        values = select(*[bindparam(f"r{i}_{c}", type_=table.c[c].type) for c in cols])
        if only_if and guard is not None:
            values = values.where(exists(select(literal(1)).select_from(guard)))
        parts.append(insert(table).from_select(list(cols), values).cte(f"r{i}"))
    # Data-modifying CTEs all run, referenced or not; the outer SELECT hands back the update's row.
    outer = select(guard) if guard is not None else select(literal(1).label("done"))
    if chain is not None and guard is not None:
        # The chained guard only when ``first`` changed a row; its rows and ``then`` only when it did too.
        # Its row comes back beside ``first``'s (a left join on one row or none), its columns prefixed.
        c_guard = _gated(_namespaced(chain[0].core), exists(select(literal(1)).select_from(guard))).cte("c")
        c_won = exists(select(literal(1)).select_from(c_guard))
        parts += [_gated(_namespaced(t.core), c_won).cte(f"ct{i}") for i, t in enumerate(chain[1])]
        for i, (table, cols) in enumerate(chain[2]):
            values = select(*[bindparam(f"c{i}_{c}", type_=table.c[c].type) for c in cols]).where(c_won)
            parts.append(insert(table).from_select(list(cols), values).cte(f"cr{i}"))
        outer = select(
            guard, c_won.label(_CHAIN_WON), *[col.label(f"{_CHAIN}{col.name}") for col in c_guard.c]
        ).select_from(guard.outerjoin(c_guard, true()))
    stmt = Statement(outer.add_cte(*parts))
    if len(_COMBINED) < 256:  # a handful of shapes exist; never grow without bound
        _COMBINED[key] = stmt
    return stmt


def _gated(core: Executable, condition: ColumnElement[bool]) -> Any:
    """``core`` (an UPDATE, a DELETE or an INSERT … SELECT) changing nothing unless ``condition`` holds."""
    if isinstance(core, Update | Delete):
        return core.where(condition)
    if isinstance(core, DmlInsert) and core.select is not None and core._select_names:
        # SQLAlchemy keeps an INSERT … SELECT's target columns only there (no public accessor).
        return insert(core.table).from_select(core._select_names, core.select.where(condition))
    raise TypeError(f"a `then` statement is an UPDATE, a DELETE or an INSERT … SELECT, not {core!r}")


def _unique_violation(exc: BaseException) -> Duplicate | None:
    """A `Duplicate` when ``exc`` (or what a SQLAlchemy error wraps) is a unique/primary-key violation."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.UniqueViolationError):
            return Duplicate(
                "a row with this key exists already", constraint=seen.constraint_name, table=seen.table_name
            )
        if isinstance(seen, sqlite3.IntegrityError) and seen.sqlite_errorname in (
            "SQLITE_CONSTRAINT_UNIQUE",
            "SQLITE_CONSTRAINT_PRIMARYKEY",
        ):
            columns = str(seen).partition(": ")[2]  # "UNIQUE constraint failed: table.col, table.col2"
            return Duplicate("a row with this key exists already", constraint=columns, table=columns.partition(".")[0])
        seen = seen.orig if isinstance(seen, DBAPIError) and seen.orig is not seen else seen.__cause__
    return None


def _bad_text(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError):
            return True
        seen = seen.orig if isinstance(seen, DBAPIError) and seen.orig is not seen else seen.__cause__
    return False


class mapped_errors:
    """Turn a driver error leaving the block into the store's exception that means the same. Socket errors
    and timeouts count as the database's (asyncpg raises them as they are); the service's own errors
    (`AuthsvcError`, e.g. an outside party's failure inside a transaction) pass unchanged."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, _MAPPED) or isinstance(exc, AuthsvcError):
            return  # not the driver's (our own errors, an outside party's failure inside the block, ...)
        duplicate = _unique_violation(exc)
        if duplicate is not None:
            raise duplicate from exc
        if _bad_text(exc):
            raise BadInput("a text value is not valid in the database's encoding") from exc
        if isinstance(exc, IntegrityError | sqlite3.IntegrityError):
            log.error("database refused a write", exc_info=exc)
        else:
            log.warning("database unavailable", exc_info=exc)
        raise Unavailable("the database did not answer; retry") from exc


async def _keep_session(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL) is one more round trip per
    # transaction. Nothing here changes session state, and a transaction always ends by its context manager.
    return None


class _Held:
    """The connection `Database.one_connection` holds for its task, lent to one scope at a time."""

    __slots__ = ("conn", "lent", "pool", "task")

    def __init__(self, pool: LendingPool, conn: asyncpg.Connection) -> None:
        self.pool, self.conn, self.task, self.lent = pool, conn, asyncio.current_task(), False

    def lendable(self, pool: LendingPool | None) -> bool:
        # Only to the task that holds it (a task started inside copies the context variable, and would share
        # the connection concurrently), one scope at a time (a transaction inside a scope would otherwise
        # become the outer scope's savepoint), and not once it broke.
        return pool is self.pool and not self.lent and not self.conn.is_closed() and asyncio.current_task() is self.task


_held: ContextVar[_Held | None] = ContextVar("authsvc_held_connection", default=None)


class Database:
    """Transactions and autocommit scopes: asyncpg on PostgreSQL, the SQLAlchemy engine on SQLite."""

    def __init__(self, engine: AsyncEngine, pool: LendingPool | None = None) -> None:
        self.engine = engine
        self.pool = pool

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    @classmethod
    async def open(cls, engine: AsyncEngine, dsn: str, *, pool_size: int) -> Database:
        if engine.dialect.name != "postgresql":
            return cls(engine)
        url = make_url(dsn).set(drivername="postgresql").render_as_string(hide_password=False)
        with mapped_errors():
            pool = await asyncpg.create_pool(url, min_size=1, max_size=max(1, pool_size), reset=_keep_session)
        return cls(engine, LendingPool(pool))

    @asynccontextmanager
    async def one_connection(self) -> AsyncIterator[None]:
        """The scopes this task opens inside (`autocommit`, `transaction`, one after the other) run on one pooled
        connection: each pool acquire and release costs 35–60 µs of CPU (asyncpg shields the release in a task
        of its own; `benchmarks/bench_fastpath_parts.py`), three times on a one-time code's verification. Each scope commits as it would on a
        connection of its own; only the pool round trips go. A no-op on SQLite (one connection anyway) and
        inside another ``one_connection``. Hold it only around database work: the connection is nobody
        else's meanwhile."""
        if self.pool is None or _held.get() is not None:
            yield
            return
        with mapped_errors():
            conn = await self.pool.take()
            token = _held.set(_Held(self.pool, conn))
            try:
                yield
            except BaseException as exc:
                await self._after_error(conn, exc)
                raise
            finally:
                _held.reset(token)
            await self.pool.give_back(conn)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Tx]:
        """Each statement (each `Tx.write` included) commits on its own, on both backends."""
        from authsvc.store.sqlite_tx import SqliteAutocommit  # it builds on this module

        with mapped_errors():
            if self.pool is None:
                yield SqliteAutocommit(self.engine)
                return
            held = _held.get()
            if held is not None and held.lendable(self.pool):
                # Inline, not a shared helper context manager: this runs on every request (≈ 2 µs a layer).
                held.lent = True
                try:
                    yield PgTx(held.conn)
                except _BROKEN_CONNECTION:
                    held.conn.terminate()  # the pool replaces it once released; later scopes take the pool's
                    raise
                finally:
                    held.lent = False
                return
            # Not `async with pool.acquire()`: a clean end keeps the connection at hand (`LendingPool`).
            conn = await self.pool.take()
            try:
                yield PgTx(conn)
            except BaseException as exc:
                if isinstance(exc, _BROKEN_CONNECTION):
                    conn.terminate()  # the pool opens a fresh one instead
                await self._after_error(conn, exc)
                raise
            await self.pool.give_back(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """All or nothing: committed when the block ends, rolled back when it raises."""
        from authsvc.store.sqlite_tx import SqlaTx  # it builds on this module

        with mapped_errors():
            if self.pool is None:
                async with self.engine.begin() as conn:
                    yield SqlaTx(conn)
                return
            held = _held.get()
            if held is not None and held.lendable(self.pool):
                held.lent = True
                try:
                    async with held.conn.transaction():
                        yield PgTx(held.conn)
                except _BROKEN_CONNECTION:
                    held.conn.terminate()
                    raise
                finally:
                    held.lent = False
                return
            conn = await self.pool.take()
            try:
                async with conn.transaction():
                    yield PgTx(conn)
            except BaseException as exc:
                if isinstance(exc, _BROKEN_CONNECTION):
                    conn.terminate()  # the pool opens a fresh one instead
                await self._after_error(conn, exc)
                raise
            await self.pool.give_back(conn)

    async def _after_error(self, conn: asyncpg.Connection, exc: BaseException) -> None:
        assert self.pool is not None
        if isinstance(exc, AuthsvcError):
            # The service's own refusal between statements (a 404 read, a duplicate mapped by a savepoint): the
            # connection is as a clean end leaves it, and `give_back` checks it is open and out of a transaction.
            await self.pool.give_back(conn)
        else:  # a driver error, a cancellation (a query may be in flight), anything else: asyncpg's reset
            await self.pool.release(conn)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
