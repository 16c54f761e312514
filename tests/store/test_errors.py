"""Driver errors mean the same on SQLite and PostgreSQL once they leave the store (`authsvc.store.errors`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from authsvc import error_codes
from authsvc.errors import UpstreamUnavailable
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from authsvc.store.errors import BadInput, Duplicate, Unavailable
from authsvc.store.migrate import upgrade
from authsvc.store.schema import lenders as lenders_table
from tests.api.test_http import problem
from tests.conftest import Api


async def test_duplicate_nul_and_outage_are_store_errors(dsn: str) -> None:
    engine = create_engine(dsn)
    await upgrade(engine)
    db = await Database.open(engine, dsn, pool_size=2)
    row: dict[str, Any] = {
        "id": "L-dup",
        "name": "L",
        "key_id": "k-dup",
        "key_hash": b"h" * 32,
        "created_at": datetime.now(UTC),
    }
    try:
        for scope in (db.transaction, db.autocommit):
            async with scope() as tx:
                await tx.run(lenders_table.delete().where(lenders_table.c.id == "L-dup"))
                await tx.run(lenders_table.insert().values(row))
            with pytest.raises(Duplicate) as dup:
                async with scope() as tx:
                    await tx.run(lenders_table.insert().values(row))
            assert dup.value.table == "lenders" and dup.value.status == 409
            with pytest.raises(BadInput) as bad:  # PostgreSQL would refuse it; SQLite would keep it
                async with scope() as tx:
                    await tx.one(lenders_table.select().where(lenders_table.c.name == "a\x00b"))
            assert bad.value.code == "invalid_characters" and bad.value.status == 422
    finally:
        await db.close()
        await engine.dispose()
    dead = create_engine("postgresql://nobody@127.0.0.1:1/none")  # nothing listens there
    try:
        with pytest.raises(Unavailable) as down:
            await Database.open(dead, "postgresql://nobody@127.0.0.1:1/none", pool_size=1)
        assert down.value.code == "database_unavailable" and down.value.status == 503
    finally:
        await dead.dispose()


async def test_a_nul_byte_in_an_id_is_422_on_both_backends(api: Api) -> None:
    """Was 503 database_unavailable with Retry-After on PostgreSQL (issue 11, item 11)."""
    for path in ("/v1/clients/abc%00def", "/v1/identifications/abc%00def"):
        body = await problem(await api.get(path), 422, "invalid_characters")
        assert "NUL" in body["detail"]


async def test_errors_not_the_drivers_pass_through(dsn: str) -> None:
    """An outside party failing inside a transaction is still that failure (a ConnectionError), not an outage
    of the database; the transaction is rolled back all the same."""
    engine = create_engine(dsn)
    await upgrade(engine)
    db = await Database.open(engine, dsn, pool_size=1)
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            async with db.transaction() as tx:
                await tx.run(lenders_table.delete().where(lenders_table.c.id == "L-up"))
                raise UpstreamUnavailable("the telco did not answer", code=error_codes.UPSTREAM_TIMEOUT)
        assert caught.value.code == "upstream_timeout"
    finally:
        await db.close()
        await engine.dispose()
