"""Idempotency keys for retried writes (`authsvc.api.idempotency` guards every operation declared
``idempotent``). A key row is inserted (status PENDING) before the request runs, so of many concurrent
requests with one key exactly one runs; the answer is stored when it succeeded, and the row deleted when it
failed (a corrected retry may use the key again). A PENDING row older than the guard's lease belongs to a
process that died and may be taken over."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, select, update

from authsvc.store.db import Tx
from authsvc.store.schema import idempotency_keys

TABLE = idempotency_keys.name  # what `Duplicate.table` says when a key is claimed twice
PENDING = 0


@dataclass(frozen=True)
class Stored:
    request_mac: bytes
    status: int
    body: bytes
    created_at: datetime
    headers: dict[str, str] = field(default_factory=dict)


def _key(lender_id: str, key: str) -> ColumnElement[bool]:
    return and_(idempotency_keys.c.lender_id == lender_id, idempotency_keys.c.key == key)


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


async def complete(
    tx: Tx, lender_id: str, key: str, status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> None:
    await tx.run(
        update(idempotency_keys)
        .where(_key(lender_id, key))
        .values(status=status, body=body, headers=json.dumps(dict(headers or {})))
    )


async def release(tx: Tx, lender_id: str, key: str) -> None:
    """Forget a key whose request failed (only while it is still PENDING)."""
    await tx.run(delete(idempotency_keys).where(_key(lender_id, key), idempotency_keys.c.status == PENDING))


async def take_over(tx: Tx, lender_id: str, key: str, *, claimed_before: datetime) -> bool:
    """Claim anew a PENDING key claimed before ``claimed_before`` (its process died); True if this call won."""
    won = await tx.run(
        update(idempotency_keys)
        .where(
            _key(lender_id, key),
            idempotency_keys.c.status == PENDING,
            idempotency_keys.c.created_at < claimed_before,
        )
        .values(created_at=datetime.now(UTC))
    )
    return won == 1


async def fetch(tx: Tx, lender_id: str, key: str) -> Stored | None:
    c = idempotency_keys.c
    row = await tx.one(select(c.request_mac, c.status, c.body, c.created_at, c.headers).where(_key(lender_id, key)))
    if row is None:
        return None
    created = row["created_at"]
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    headers = json.loads(row["headers"]) if row["headers"] else {}
    return Stored(bytes(row["request_mac"]), row["status"], bytes(row["body"]), created, headers)


async def purge(tx: Tx, ttl_s: int) -> None:
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl_s)
    await tx.run(delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff))
