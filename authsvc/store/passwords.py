"""Cabinet log-in passwords (R-6.5): one argon2id PHC string per client."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from authsvc.store.db import Tx
from authsvc.store.schema import client_passwords


async def put(tx: Tx, client_id: str, phc: str) -> None:
    now = datetime.now(UTC)
    insert = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
    stmt = insert(client_passwords).values(client_id=client_id, hash=phc, updated_at=now)
    await tx.run(
        stmt.on_conflict_do_update(index_elements=["client_id"], set_={"hash": stmt.excluded.hash, "updated_at": now})
    )


async def get(tx: Tx, client_id: str) -> str | None:
    phc: str | None = await tx.scalar(select(client_passwords.c.hash).where(client_passwords.c.client_id == client_id))
    return phc


async def replace(tx: Tx, client_id: str, old: str, new: str) -> bool:
    """Swap in a rehash only if the stored hash is still ``old`` (a concurrent change wins)."""
    result = await tx.run(
        update(client_passwords)
        .where(client_passwords.c.client_id == client_id, client_passwords.c.hash == old)
        .values(hash=new, updated_at=datetime.now(UTC))
    )
    return result == 1
