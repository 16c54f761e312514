"""Appending to and reading the audit log (R-12.1).

`append` writes a *pending* entry inside the caller's transaction, so the audited change and its record
commit or roll back together; the entry is sealed at once with a keyed MAC (HMAC-SHA256, ≈2 µs where an
Ed25519 signature and its check cost ≈120 µs — a quarter of a one-time-code verification), so editing it
while it waits is detected. Only this service checks the seal; chained entries and the head carry Ed25519
signatures for anyone holding the public key. No lock is taken there. `chain_pending` then links waiting entries into the hash chain in arrival order, many
per transaction under the one head-row lock (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE
already serialises), so processes sharing a database extend one chain without queueing every request
behind it. Details never hold personal data: ids, codes and outcomes only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from authsvc.audit.chain import Entry, Head, canonical, entry_hash, head_message, pending_message
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import AuthsvcError
from authsvc.store.db import Conn, Database, Insert, Row, Statement, as_tx
from authsvc.store.schema import audit_head, audit_log, audit_pending

TAMPERED_PENDING = "audit.pending_tampered"
PENDING_MAC_KEY_ID = "mac:index"  # the pending entry is sealed with the index MAC key


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def entry(
    keys: KeyStore,
    event: str,
    *,
    lender_id: str | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> Insert:
    """A sealed waiting entry, for `Tx.write` alongside the change it records."""
    at, key_id = now_iso(), PENDING_MAC_KEY_ID
    body = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    values = {
        "at": at,
        "event": event,
        "lender_id": lender_id,
        "subject": subject,
        "details": body,
        "key_id": key_id,
        "signature": _seal(keys, pending_message(at, event, lender_id, subject, body, key_id)),
    }
    return Insert(audit_pending, values)


async def append(
    conn: Conn,
    keys: KeyStore,
    event: str,
    *,
    lender_id: str | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record one event in the current transaction (chained shortly after by `chain_pending`)."""
    await as_tx(conn).write([entry(keys, event, lender_id=lender_id, subject=subject, details=details)])


def _seal(keys: KeyStore, message: bytes) -> bytes:
    return keys.index_mac("audit-pending", message.decode())


def _pending_intact(keys: KeyStore, row: Row) -> bool:
    message = pending_message(row["at"], row["event"], row["lender_id"], row["subject"], row["details"], row["key_id"])
    if row["key_id"] == PENDING_MAC_KEY_ID:
        return hmac.compare_digest(_seal(keys, message), _bytes(row["signature"]))
    # Entries written before the MAC seal carry an Ed25519 signature by an audit key.
    try:
        keys.audit_public_key(row["key_id"]).verify(_bytes(row["signature"]), message)
    except AuthsvcError:
        raise
    except (InvalidSignature, KeyError, ValueError):
        return False
    return True


CHAIN_BATCH = 500
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
_CHAINED = Statement(delete(audit_pending).where(audit_pending.c.id <= bindparam("last_id")))


async def chain_pending(source: AsyncEngine | Database, keys: KeyStore, *, limit: int = CHAIN_BATCH) -> int:
    """Link up to ``limit`` waiting entries into the chain; returns how many. Safe to run in every process.
    The batch (≈40 µs of hashing and signing per entry) yields to the event loop every 50 entries."""
    db = source if isinstance(source, Database) else Database(source)
    async with db.connection() as probe:
        if await probe.one(_ANY_WAITING) is None:
            return 0  # nothing waits: don't take the head lock
    async with db.transaction() as tx:
        head = await tx.one(_LOCK_HEAD)
        rows = await tx.all(_WAITING, batch=limit)
        if head is None or not rows:
            return 0
        seq, prev = int(head["seq"]), _bytes(head["entry_hash"])
        at = key_id = ""
        values = []
        for n, row in enumerate(rows, 1):
            if n % 50 == 0:
                await asyncio.sleep(0)  # ≈2 ms of signing at a time: let requests in between
            seq += 1
            if _pending_intact(keys, row):
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
                    "signature": keys.sign_audit(digest),
                }
            )
            prev = digest
        await tx.insert_many(audit_log, values)
        signature = keys.sign_audit(head_message(seq, prev, at))
        await tx.run(_MOVE_HEAD, new_seq=seq, new_hash=prev, new_at=at, new_key_id=key_id, new_signature=signature)
        await tx.run(_CHAINED, last_id=rows[-1]["id"])
        return len(rows)


async def chain_all(source: AsyncEngine | Database, keys: KeyStore) -> int:
    total = 0
    while n := await chain_pending(source, keys):
        total += n
    return total


def _bytes(value: Any) -> bytes:
    # A tampered row may hold anything (SQLite stores '' as text): never let that crash the verifier.
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


@dataclass(frozen=True)
class Pending:
    count: int
    tampered: list[int]


async def read_pending(conn: AsyncConnection, keys: KeyStore) -> Pending:
    rows: Sequence[Row] = (await conn.execute(select(audit_pending).order_by(audit_pending.c.id))).mappings().all()  # type: ignore[assignment]
    return Pending(len(rows), [r["id"] for r in rows if not _pending_intact(keys, r)])


async def pending_count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(audit_pending))).scalar_one())


async def read_all(conn: AsyncConnection) -> tuple[list[Entry], Head]:
    rows = (await conn.execute(select(audit_log).order_by(audit_log.c.seq))).all()
    entries = [
        Entry(
            seq=r.seq,
            at=r.at,
            event=r.event,
            lender_id=r.lender_id,
            subject=r.subject,
            details=r.details,
            key_id=r.key_id,
            prev_hash=_bytes(r.prev_hash),
            entry_hash=_bytes(r.entry_hash),
            signature=_bytes(r.signature),
        )
        for r in rows
    ]
    h = (await conn.execute(select(audit_head).where(audit_head.c.id == 1))).one()
    return entries, Head(int(h.seq), _bytes(h.entry_hash), str(h.at), str(h.key_id), _bytes(h.signature))
