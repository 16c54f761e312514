"""Schema migrations (Alembic), run programmatically: `authsvc migrate` or at service start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


# Processes and hosts starting together on one PostgreSQL migrate one after the other (the lock is the
# transaction's: the next one sees the schema the first committed and has nothing left to do).
_MIGRATION_LOCK = text("SELECT pg_advisory_xact_lock(7303150316)")


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    """Apply every migration; "heads" because method packages may add independent branches."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(_MIGRATION_LOCK)
        await conn.run_sync(lambda sync_conn: command.upgrade(_config(sync_conn), revision))


async def current_revision(engine: AsyncEngine) -> str:
    """The applied revisions, comma-separated (one per branch head)."""
    async with engine.connect() as conn:
        heads = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
    return ",".join(sorted(heads)) or "none"


def head_revisions() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(_config()).get_heads())
