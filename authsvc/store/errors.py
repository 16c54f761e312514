"""The store's exceptions: what a driver error means, the same on SQLite and PostgreSQL.

`authsvc.store.db.Database` maps driver errors to these once, where a transaction or autocommit scope ends,
so no caller above the store knows SQLAlchemy's or asyncpg's exception types.

    AuthsvcError
    ├── Conflict ── Duplicate            409  duplicate (a unique constraint refused the row)
    ├── ValidationFailed ── BadInput     422  invalid_characters (a NUL byte in a text value)
    └── Unavailable (ConnectionError)    503  database_unavailable (refused, timed out, server gone)
"""

from __future__ import annotations

from authsvc import error_codes
from authsvc.errors import AuthsvcError, Conflict, ValidationFailed


class Duplicate(Conflict):
    """A unique constraint refused the row; ``constraint`` and ``table`` name it when the driver says which."""

    code = error_codes.DUPLICATE

    def __init__(self, detail: str, *, constraint: str | None = None, table: str | None = None) -> None:
        super().__init__(detail)
        self.constraint = constraint
        self.table = table


class BadInput(ValidationFailed):
    """A value no backend may store as given: refused before it reaches the driver, on both backends alike
    (PostgreSQL refuses a NUL byte in text with an encoding error, SQLite would keep it)."""

    code = error_codes.INVALID_CHARACTERS


class Unavailable(AuthsvcError, ConnectionError):
    """The database did not answer (connection refused or lost, pool timeout, server shut down)."""

    status = 503
    code = error_codes.DATABASE_UNAVAILABLE
    retry_after = 1
