"""The migrations build exactly the schema the code declares (authsvc/store/schema.py), on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from authsvc.store.engine import create_engine
from authsvc.store.migrate import current_revision, head_revisions, upgrade
from authsvc.store.schema import metadata


async def test_migrated_database_matches_the_declared_schema(dsn: str) -> None:
    engine = create_engine(dsn)
    try:
        await upgrade(engine)
        await upgrade(engine)  # a second run is a no-op
        assert await current_revision(engine) == ",".join(sorted(head_revisions()))
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert diff == []
        assert set(metadata.tables) <= tables
    finally:
        await engine.dispose()
