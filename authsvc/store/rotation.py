"""Key-encryption-key rotation (R-12.2): new data is sealed under the new KEK at once; existing data keys
are re-wrapped in the background, in small batches, while the service keeps serving.

Every table holding a wrapped data key (columns ``kek_id`` and ``data_key``) is found from the schema. A
batch re-wraps rows whose ``kek_id`` is not the current one and writes each with a compare-and-set on the
old ``kek_id``, in one transaction per batch: a crash leaves every row wrapped under one KEK or the other,
each readable (old KEKs are never deleted here), and running `rewrap` again simply goes on from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Table, func, select, update

from authsvc.crypto.keystore import KeyStore
from authsvc.store.db import Database
from authsvc.store.schema import metadata


def wrapped_key_tables() -> list[Table]:
    return [t for t in metadata.sorted_tables if {"id", "kek_id", "data_key"} <= set(t.c.keys())]


@dataclass
class RewrapReport:
    current_kek: str
    rewrapped: dict[str, int] = field(default_factory=dict)
    remaining: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return not any(self.remaining.values())


async def rewrap(db: Database, keys: KeyStore, *, batch: int = 200, max_batches: int | None = None) -> RewrapReport:
    """Re-wrap data keys under the current KEK; ``max_batches`` bounds one run (the rest waits for the next)."""
    current = keys.kek_id
    report = RewrapReport(current)
    batches = 0
    for table in wrapped_key_tables():
        report.rewrapped[table.name] = 0
        while max_batches is None or batches < max_batches:
            async with db.transaction() as tx:
                rows = await tx.all(
                    select(table.c.id, table.c.kek_id, table.c.data_key)
                    .where(table.c.kek_id != current, table.c.data_key.is_not(None))
                    .limit(batch)
                )
                for row in rows:
                    data_key = keys.unwrap_data_key(bytes(row["data_key"]), row["kek_id"])
                    await tx.run(
                        update(table)
                        .where(table.c.id == row["id"], table.c.kek_id == row["kek_id"])
                        .values(kek_id=current, data_key=keys.wrap_data_key(data_key))
                    )
            batches += 1
            report.rewrapped[table.name] += len(rows)
            if len(rows) < batch:
                break
        async with db.autocommit() as tx:
            left = await tx.scalar(
                select(func.count()).select_from(table).where(table.c.kek_id != current, table.c.data_key.is_not(None))
            )
        report.remaining[table.name] = int(left or 0)
    return report


async def kek_counts(db: Database) -> dict[str, dict[str, int]]:
    """Rows per KEK id in every table holding a wrapped data key."""
    out: dict[str, dict[str, int]] = {}
    async with db.autocommit() as tx:
        for table in wrapped_key_tables():
            rows = await tx.all(select(table.c.kek_id, func.count().label("n")).group_by(table.c.kek_id))
            out[table.name] = {str(r["kek_id"]): int(r["n"]) for r in rows}
    return out
