"""Persistence: the schema (SQLAlchemy Core) and its migrations, the same on SQLite and PostgreSQL.

Every store function takes one transaction type, `Tx`; callers open `Database.transaction()` (all or nothing)
or `Database.autocommit()` (each statement on its own), which mean the same on both backends. Driver errors are
mapped once, at that edge, to `Duplicate`, `BadInput` and `Unavailable`. Hot statements are `Statement`s,
compiled once and run as prepared statements on asyncpg.
"""

from authsvc.store.db import Database, Insert, Statement, Tx
from authsvc.store.engine import create_engine
from authsvc.store.errors import BadInput, Duplicate, Unavailable
from authsvc.store.migrate import upgrade

__all__ = [
    "BadInput",
    "Database",
    "Duplicate",
    "Insert",
    "Statement",
    "Tx",
    "Unavailable",
    "create_engine",
    "upgrade",
]
