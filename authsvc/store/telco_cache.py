"""Mobile-operator answers cached for a while (R-108.1): the operators charge per check and answer slowly.

Keyed by a keyed hash of (IIN, phone), so the table names nobody; a changed phone is a new key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from authsvc.store.db import Tx
from authsvc.store.schema import telco_checks


async def get(tx: Tx, key_mac: bytes, *, now: datetime | None = None) -> str | None:
    """The cached answer (JSON text) if it has not expired."""
    now = now or datetime.now(UTC)
    answer: str | None = await tx.scalar(
        select(telco_checks.c.answer).where(telco_checks.c.key_mac == key_mac, telco_checks.c.expires_at > now)
    )
    return answer


async def put(tx: Tx, key_mac: bytes, answer: str, *, ttl_s: int) -> None:
    now = datetime.now(UTC)
    insert = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
    stmt = insert(telco_checks).values(
        key_mac=key_mac, answer=answer, fetched_at=now, expires_at=now + timedelta(seconds=ttl_s)
    )
    await tx.run(
        stmt.on_conflict_do_update(
            index_elements=["key_mac"],
            set_={"answer": stmt.excluded.answer, "fetched_at": now, "expires_at": stmt.excluded.expires_at},
        )
    )


async def purge(tx: Tx, *, now: datetime | None = None) -> None:
    await tx.run(delete(telco_checks).where(telco_checks.c.expires_at <= (now or datetime.now(UTC))))
