"""The audit log's tables: statements and rows only (R-12.1).

What an entry holds, how it is sealed and how entries are chained is `authsvc.audit`'s business
(`authsvc.audit.records`, `authsvc.audit.chainer`); this module only reads and writes the three tables:
``audit_pending`` (sealed entries waiting), ``audit_log`` (the chain) and ``audit_head`` (its signed head).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, column, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from authsvc.store.db import Insert, Row, Statement, Tx
from authsvc.store.schema import audit_head, audit_log, audit_pending


def pending(values: Mapping[str, Any]) -> Insert:
    """A waiting entry's row, for `Tx.write` alongside the change it records."""
    return Insert(audit_pending, values)


_ANY_WAITING = Statement(select(audit_pending.c.id).limit(1))
_LOCK_HEAD = Statement(select(audit_head.c.seq, audit_head.c.entry_hash).where(audit_head.c.id == 1).with_for_update())
_WAITING = Statement(select(audit_pending).order_by(audit_pending.c.id).limit(bindparam("batch")))
_MOVE_HEAD = Statement(
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(
        seq=bindparam("new_seq"),
        entry_hash=bindparam("new_hash"),
        at=bindparam("new_at"),
        key_id=bindparam("new_key_id"),
        signature=bindparam("new_signature"),
    )
)
# Exactly the ids chained: PostgreSQL hands out ids before commit and commits out of order, so a lower id may
# become visible after the batch was read; a range (``id <= last``) would delete it unchained.
_CHAINED_PG = Statement(
    delete(audit_pending).where(audit_pending.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
)

# SQLite: the ids as one JSON array (json_each), so this too is one statement compiled once (`sqlite_tx`).
_CHAINED_LITE = Statement(
    delete(audit_pending).where(
        audit_pending.c.id.in_(select(column("value")).select_from(func.json_each(bindparam("ids_json"))))
    )
)


async def any_waiting(tx: Tx) -> bool:
    return await tx.one(_ANY_WAITING) is not None


async def lock_head(tx: Tx) -> Row | None:
    """The head row (seq, entry_hash), locked until the transaction ends (SQLite: BEGIN IMMEDIATE already)."""
    return await tx.one(_LOCK_HEAD)


async def waiting(tx: Tx, limit: int) -> Sequence[Row]:
    """Up to ``limit`` waiting entries in arrival order."""
    return await tx.all(_WAITING, batch=limit)


async def add_chained(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
    await tx.insert_many(audit_log, rows)


async def move_head(tx: Tx, *, seq: int, entry_hash: bytes, at: str, key_id: str, signature: bytes) -> None:
    await tx.run(_MOVE_HEAD, new_seq=seq, new_hash=entry_hash, new_at=at, new_key_id=key_id, new_signature=signature)


async def forget_pending(tx: Tx, ids: Sequence[int]) -> int:
    """Delete the waiting entries ``ids`` (just chained); returns how many went."""
    if tx.dialect == "postgresql":
        return await tx.run(_CHAINED_PG, ids=list(ids))  # one prepared statement, the ids as one array
    return await tx.run(_CHAINED_LITE, ids_json=json.dumps([int(i) for i in ids]))


async def all_pending(tx: Tx) -> Sequence[Row]:
    return await tx.all(select(audit_pending).order_by(audit_pending.c.id))


async def pending_count(tx: Tx) -> int:
    return int(await tx.scalar(select(func.count()).select_from(audit_pending)))


async def chain_rows(tx: Tx) -> Sequence[Row]:
    return await tx.all(select(audit_log).order_by(audit_log.c.seq))


async def head_row(tx: Tx) -> Row | None:
    return await tx.one(select(audit_head).where(audit_head.c.id == 1))


async def last_details_of(tx: Tx, event: str) -> str | None:
    """The details of the newest entry of ``event``, waiting or chained."""
    for table, order in ((audit_pending, audit_pending.c.id), (audit_log, audit_log.c.seq)):
        query = select(table.c.details).where(table.c.event == event).order_by(order.desc()).limit(1)
        details = await tx.scalar(query)
        if details is not None:
            return str(details)
    return None
