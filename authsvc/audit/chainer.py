"""Linking waiting audit entries into the hash chain (R-12.1), and the background task that does it.

`chain_pending` links waiting entries into the chain in arrival order, many per transaction under the one
head-row lock (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises), so
processes sharing a database extend one chain without queueing every request behind it. It deletes
exactly the entries it chained: PostgreSQL hands out ids before commit and commits out of order, so an
entry with a lower id than the batch's last may become visible only after the batch was read.

While entries keep arriving `run_chainer` chains them in rounds every `BUSY_INTERVAL_S` (at once again
when a round was full), and it slows down when idle; every service process runs one, and the head-row
lock lets only one of them chain a given entry. A failed round is retried. Each committed round's head is
appended to the head log outside the database (`authsvc.audit.witness`), so a later cut-back is caught. A round costs a handful of
statements whatever its size, so fewer, fuller rounds leave more of the core to requests: at 20 ms rounds
the chainer took a tenth of a core under a one-time-code load of 1,000 verifications a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime

from authsvc import metrics
from authsvc.audit.chain import Head, canonical, entry_hash, head_message
from authsvc.audit.records import TAMPERED_PENDING, as_bytes, now_iso, pending_intact_many
from authsvc.audit.witness import HeadLog
from authsvc.crypto.keystore import KeyStore
from authsvc.store import audit as tables
from authsvc.store.db import Database

log = logging.getLogger("authsvc.audit")

CHAIN_BATCH = 500
BUSY_INTERVAL_S = 0.1
IDLE_INTERVAL_S = 0.5


async def chain_pending(
    db: Database, keys: KeyStore, *, limit: int = CHAIN_BATCH, witness: HeadLog | None = None
) -> int:
    """Link up to ``limit`` waiting entries into the chain; returns how many. Safe to run in every process.
    The batch (≈40 µs of hashing and signing per entry) yields to the event loop every 50 entries. The new
    head goes to ``witness`` once the round has committed."""
    async with db.autocommit() as probe:
        if not await tables.any_waiting(probe):
            metrics.audit_round(0, 0.0)
            return 0  # nothing waits: don't take the head lock
    async with db.transaction() as tx:
        head = await tables.lock_head(tx)
        rows = await tables.waiting(tx, limit)
        if not rows:
            metrics.audit_round(0, 0.0)
            return 0
        waited = _age_s(rows[0]["at"])
        if head is None:
            log.error("the audit head row is missing: nothing is chained until it is restored (authsvc audit verify)")
            return 0
        seq, prev = int(head["seq"]), as_bytes(head["entry_hash"])
        at = key_id = ""
        values = []
        intact = await pending_intact_many(keys, rows)  # one trip to the key store's device for the batch
        for n, (row, ok) in enumerate(zip(rows, intact, strict=True), 1):
            if n % 50 == 0:
                await asyncio.sleep(0)  # ≈1 ms of hashing at a time: let requests in between
            seq += 1
            if ok:
                at, event, lender, subject = row["at"], row["event"], row["lender_id"], row["subject"]
                body = row["details"]
            else:
                # Someone edited the entry while it waited: chain a record of that instead of the edited text.
                at, event, lender, subject = now_iso(), TAMPERED_PENDING, None, None
                body = json.dumps({"pending_id": row["id"]}, separators=(",", ":"))
            key_id = keys.audit_key_id
            digest = entry_hash(prev, canonical(seq, at, event, lender, subject, body, key_id))
            values.append(
                {
                    "seq": seq,
                    "at": at,
                    "event": event,
                    "lender_id": lender,
                    "subject": subject,
                    "details": body,
                    "key_id": key_id,
                    "prev_hash": prev,
                    "entry_hash": digest,
                }
            )
            prev = digest
        # The entries' signatures and the head's, in one trip to the device (off the loop on an HSM).
        digests = [v["entry_hash"] for v in values]
        *signatures, signature = await keys.asign_audit_many([*digests, head_message(seq, prev, at)])
        for v, sig in zip(values, signatures, strict=True):
            v["signature"] = sig
        await tables.add_chained(tx, values)
        await tables.move_head(tx, seq=seq, entry_hash=prev, at=at, key_id=key_id, signature=signature)
        await tables.forget_pending(tx, [row["id"] for row in rows])
        made = Head(seq, prev, at, key_id, signature)
    if witness is not None:
        await asyncio.to_thread(witness.witness, made)  # an fsync: off the event loop
    metrics.audit_round(len(rows), waited)
    return len(rows)


def _age_s(at: str) -> float:
    """Seconds since an entry's ``at`` (ISO 8601, UTC); 0 for a value that does not parse."""
    try:
        then = datetime.fromisoformat(at)
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - (then if then.tzinfo else then.replace(tzinfo=UTC))).total_seconds()


async def chain_all(db: Database, keys: KeyStore, *, witness: HeadLog | None = None) -> int:
    total = 0
    while n := await chain_pending(db, keys, witness=witness):
        total += n
    return total


async def run_chainer(db: Database, keys: KeyStore, *, witness: HeadLog | None = None) -> None:
    interval = IDLE_INTERVAL_S
    while True:
        await asyncio.sleep(interval)
        try:
            chained = await chain_pending(db, keys, witness=witness)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audit chaining failed; will retry")
            chained = 0
        if chained >= CHAIN_BATCH:
            interval = 0  # more are waiting
        else:
            interval = BUSY_INTERVAL_S if chained else min(IDLE_INTERVAL_S, max(interval, BUSY_INTERVAL_S) * 2)
