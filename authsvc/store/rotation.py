"""Key-encryption-key rotation (R-12.2): new data is sealed under the new KEK at once; existing data keys
are re-wrapped in the background, in small batches, while the service keeps serving.

Every table holding a wrapped data key (columns ``kek_id`` and ``data_key``) is found from the schema. A
batch re-wraps rows whose ``kek_id`` is not the current one and writes each with a compare-and-set on the
old ``kek_id``, in one transaction per batch: a crash leaves every row wrapped under one KEK or the other,
each readable (old KEKs are never deleted here), and the next run simply goes on from there. The batch's
rows are claimed ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so the jobs processes of several hosts share the
work without waiting on each other or re-wrapping a row twice; SQLite serialises writers anyway (its
dialect leaves the clause out). The key store's device calls are awaited (off the event loop on an HSM).

`run_rewrapper` is the background job (the jobs role of `authsvc.app`): it looks for old-KEK rows every
``every_s`` and, when there are some, re-wraps them batch after batch with a pause in between for traffic,
showing the remaining count in `authsvc.metrics` and in `STATUS` (a /readyz note), and recording each batch
through ``record`` (an audit entry in the batch's own transaction). `python -m authsvc.hsm rewrap` runs the
same batches at once, for an operator.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, select, update

from authsvc import metrics
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import AuthsvcError
from authsvc.store.db import Database, Tx
from authsvc.store.schema import metadata

log = logging.getLogger("authsvc.keys")

# One batch's audit entry, written in its transaction: (tx, details) — the caller adds the event and keys.
Record = Callable[[Tx, dict[str, Any]], Awaitable[None]]
BATCH = 200
PAUSE_S = 0.05  # between batches of a background run: a batch holds SQLite's write lock while it runs
EVERY_S = 30.0  # how often the background job looks for rows under an old KEK
SETTLE_S = 120.0  # how long it keeps looking after none is left under the current KEK


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


@dataclass
class RewrapStatus:
    """What this process's background re-wrap is doing (read by /readyz)."""

    current_kek: str | None = None
    remaining: int = 0

    def note(self) -> str | None:
        if not self.remaining:
            return None
        return f"re-wrapping {self.remaining} data keys under {self.current_kek} in the background"


STATUS = RewrapStatus()


async def rewrap_batch(
    db: Database, keys: KeyStore, table: Table, current: str, *, batch: int = BATCH, record: Record | None = None
) -> int:
    """Re-wrap up to ``batch`` rows of ``table`` under ``current`` in one transaction; returns how many (fewer
    than ``batch``: the table is done, or the rest is claimed by another process)."""
    async with db.transaction() as tx:
        rows = await tx.all(
            select(table.c.id, table.c.kek_id, table.c.data_key)
            .where(table.c.kek_id != current, table.c.data_key.is_not(None))
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        done = 0
        for row in rows:
            data_key = await keys.aunwrap_data_key(bytes(row["data_key"]), row["kek_id"])
            kek_id, wrapped = await keys.awrap_data_key(data_key)
            if kek_id != current:  # rotated again meanwhile: the next run re-wraps under the newest
                continue
            await tx.run(
                update(table)
                .where(table.c.id == row["id"], table.c.kek_id == row["kek_id"])
                .values(kek_id=current, data_key=wrapped)
            )
            done += 1
        if done and record is not None:
            await record(tx, {"table": table.name, "kek_id": current, "rewrapped": done})
    return done


async def remaining(db: Database, current: str) -> dict[str, int]:
    """Rows per table whose data key is still wrapped under another KEK than ``current``."""
    out = {}
    async with db.autocommit() as tx:
        for table in wrapped_key_tables():
            left = await tx.scalar(
                select(func.count()).select_from(table).where(table.c.kek_id != current, table.c.data_key.is_not(None))
            )
            out[table.name] = int(left or 0)
    return out


async def rewrap(
    db: Database,
    keys: KeyStore,
    *,
    batch: int = BATCH,
    max_batches: int | None = None,
    record: Record | None = None,
    pause_s: float = 0.0,
) -> RewrapReport:
    """Re-wrap data keys under the current KEK; ``max_batches`` bounds one run (the rest waits for the next)."""
    current = keys.kek_id
    report = RewrapReport(current)
    batches = 0
    for table in wrapped_key_tables():
        report.rewrapped[table.name] = 0
        while max_batches is None or batches < max_batches:
            n = await rewrap_batch(db, keys, table, current, batch=batch, record=record)
            batches += 1
            report.rewrapped[table.name] += n
            if n < batch:
                break
            if pause_s:
                await asyncio.sleep(pause_s)
    report.remaining = await remaining(db, current)
    return report


async def run_rewrapper(
    db: Database,
    keys: KeyStore,
    *,
    record: Record | None = None,
    status: RewrapStatus = STATUS,
) -> None:
    """The background job: finish any rotation's re-wrap, in every process of the jobs role at once (the
    pace is the module's `EVERY_S`, `BATCH` and `PAUSE_S`). Counting old-KEK rows scans each table (kek_id has
    no index), so once none is left under a KEK the job looks for another SETTLE_S — other processes may seal
    under the old KEK until they notice the rotation (`RELOAD_EVERY_S`, 30 s) — and then only when the KEK
    changes or the process restarts."""
    settled: tuple[str, float] | None = None  # (KEK, when none was left under it first)
    while True:
        batch = BATCH
        try:
            current = keys.kek_id
            if settled is None or settled[0] != current or time.monotonic() - settled[1] < SETTLE_S:
                left = await _round(db, keys, current, batch, record, status)
                if left:
                    settled = None
                elif settled is None or settled[0] != current:
                    settled = (current, time.monotonic())
        except asyncio.CancelledError:
            raise
        except AuthsvcError as exc:  # e.g. the HSM token is away (key_store_unavailable): said, no trace
            log.warning("re-wrapping data keys paused: %s; will retry", exc.detail)
        except Exception:
            log.exception("re-wrapping data keys failed; will retry")
        await asyncio.sleep(EVERY_S)


async def _round(
    db: Database, keys: KeyStore, current: str, batch: int, record: Record | None, status: RewrapStatus
) -> int:
    """Count, then re-wrap batch after batch until nothing is left or the rest is claimed elsewhere; returns
    how many rows are left under an older KEK."""
    left = sum((await remaining(db, current)).values())
    status.current_kek, status.remaining = current, left
    metrics.KEYS_REWRAP_REMAINING.set(left)
    while left:
        rewrapped = 0
        for table in wrapped_key_tables():
            done = await rewrap_batch(db, keys, table, current, batch=batch, record=record)
            if done:
                rewrapped += done
                await asyncio.sleep(PAUSE_S)  # room for traffic between batches
        metrics.KEYS_REWRAPPED.inc(rewrapped)
        left = sum((await remaining(db, current)).values())
        status.remaining = left
        metrics.KEYS_REWRAP_REMAINING.set(left)
        if not rewrapped and left:  # every row is claimed by another process: look again later
            break
    return left


async def kek_counts(db: Database) -> dict[str, dict[str, int]]:
    """Rows per KEK id in every table holding a wrapped data key."""
    out: dict[str, dict[str, int]] = {}
    async with db.autocommit() as tx:
        for table in wrapped_key_tables():
            rows = await tx.all(select(table.c.kek_id, func.count().label("n")).group_by(table.c.kek_id))
            out[table.name] = {str(r["kek_id"]): int(r["n"]) for r in rows}
    return out
