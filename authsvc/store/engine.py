"""Database engines: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) in production, chosen by one DSN.

SQLite: WAL journal, a busy timeout, and every transaction opened with BEGIN IMMEDIATE so concurrent
writers (also in other processes) queue on the database lock instead of failing half-way.
PostgreSQL: nothing is kept in process memory for correctness; cross-process races are settled by
constraints and row locks.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from authsvc.errors import ConfigError
from authsvc.store.db import refuse_nul


def async_url(dsn: str) -> str:
    """Map the user-facing DSN (sqlite:///…, postgresql://…) to the async driver's URL."""
    url = make_url(dsn)
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            _private_files(Path(url.database))
    elif backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    else:
        raise ConfigError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return url.render_as_string(hide_password=False)


def _private_files(database: Path) -> None:
    """The database holds sealed personal data: 0600 like the key file. SQLite creates its
    -wal and -shm files with the database file's mode, so creating that one 0600 first covers all three;
    files left readable by an earlier version are tightened."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def create_engine(dsn: str, *, pool_size: int = 10, busy_timeout_ms: int = 10_000) -> AsyncEngine:
    url = async_url(dsn)
    if url.startswith("sqlite"):
        # One connection per process: SQLite admits one writer anyway, and queueing in the pool is fair and
        # immediate, where contending connections would sleep in SQLite's busy handler (p99 near a second).
        # Other processes still wait on the database lock (BEGIN IMMEDIATE + busy timeout).
        engine = create_async_engine(
            url,
            connect_args={"timeout": busy_timeout_ms / 1000},
            pool_size=1,
            max_overflow=0,
            pool_timeout=busy_timeout_ms / 1000,
            # No ROLLBACK (one more trip to aiosqlite's thread) when a connection goes back: SQLAlchemy ends
            # its own transactions, and `sqlite_tx` ends the ones it begins in the same call.
            pool_reset_on_return=None,
        )
        _sqlite_pragmas(engine, busy_timeout_ms)
    else:
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False)
    _refuse_nul(engine)
    return engine


def _refuse_nul(engine: AsyncEngine) -> None:
    """SQLite would keep a NUL byte in text that PostgreSQL refuses: refuse it on both, before the driver."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _check(_conn: Any, _cursor: Any, _sql: str, parameters: Any, _context: Any, executemany: bool) -> None:
        for params in parameters if executemany else (parameters,):
            refuse_nul(params.values() if isinstance(params, dict) else params or ())


def _sqlite_pragmas(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
