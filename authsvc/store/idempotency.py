"""Idempotency keys for retried writes. The key row is inserted first, inside the same transaction as the
write it guards, so of many concurrent requests with one key exactly one does the work; the others meet
the primary key (PostgreSQL makes them wait for the winner's commit) and replay its stored answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authsvc.store.schema import idempotency_keys

PENDING = 0


@dataclass(frozen=True)
class Stored:
    request_mac: bytes
    status: int
    body: bytes


async def claim(conn: AsyncConnection, lender_id: str, key: str, request_mac: bytes) -> None:
    """Insert the key; raises sqlalchemy IntegrityError when it already exists."""
    await conn.execute(
        idempotency_keys.insert().values(
            lender_id=lender_id,
            key=key,
            request_mac=request_mac,
            status=PENDING,
            body=b"",
            created_at=datetime.now(UTC),
        )
    )


async def complete(conn: AsyncConnection, lender_id: str, key: str, status: int, body: bytes) -> None:
    await conn.execute(
        update(idempotency_keys)
        .where(idempotency_keys.c.lender_id == lender_id, idempotency_keys.c.key == key)
        .values(status=status, body=body)
    )


async def fetch(conn: AsyncConnection, lender_id: str, key: str) -> Stored | None:
    row = (
        await conn.execute(
            select(idempotency_keys.c.request_mac, idempotency_keys.c.status, idempotency_keys.c.body).where(
                idempotency_keys.c.lender_id == lender_id, idempotency_keys.c.key == key
            )
        )
    ).one_or_none()
    return None if row is None else Stored(bytes(row.request_mac), row.status, bytes(row.body))


async def purge(conn: AsyncConnection, ttl_s: int) -> None:
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl_s)
    await conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
