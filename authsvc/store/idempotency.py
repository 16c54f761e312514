"""Idempotency keys for retried writes. The key row is inserted first, inside the same transaction as the
write it guards, so of many concurrent requests with one key exactly one does the work; the others meet
the primary key (PostgreSQL makes them wait for the winner's commit) and replay its stored answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from authsvc.store.db import Tx
from authsvc.store.schema import idempotency_keys

TABLE = idempotency_keys.name  # what `Duplicate.table` says when a key is claimed twice
PENDING = 0


@dataclass(frozen=True)
class Stored:
    request_mac: bytes
    status: int
    body: bytes


async def claim(tx: Tx, lender_id: str, key: str, request_mac: bytes) -> None:
    """Insert the key; raises `Duplicate` when it already exists."""
    await tx.run(
        idempotency_keys.insert().values(
            lender_id=lender_id,
            key=key,
            request_mac=request_mac,
            status=PENDING,
            body=b"",
            created_at=datetime.now(UTC),
        )
    )


async def complete(tx: Tx, lender_id: str, key: str, status: int, body: bytes) -> None:
    await tx.run(
        update(idempotency_keys)
        .where(idempotency_keys.c.lender_id == lender_id, idempotency_keys.c.key == key)
        .values(status=status, body=body)
    )


async def fetch(tx: Tx, lender_id: str, key: str) -> Stored | None:
    row = await tx.one(
        select(idempotency_keys.c.request_mac, idempotency_keys.c.status, idempotency_keys.c.body).where(
            idempotency_keys.c.lender_id == lender_id, idempotency_keys.c.key == key
        )
    )
    return None if row is None else Stored(bytes(row["request_mac"]), row["status"], bytes(row["body"]))


async def purge(tx: Tx, ttl_s: int) -> None:
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl_s)
    await tx.run(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
