"""Appending to and reading the audit log (R-12.1).

An append runs inside the caller's transaction, so the audited change and its audit entry commit or
roll back together. It locks the single head row (SELECT … FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE already serialises writers), so processes sharing one database extend one chain.
Details never hold personal data: ids, codes and outcomes only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from authsvc.audit.chain import Entry, Head, canonical, entry_hash, head_message
from authsvc.crypto.keystore import KeyStore
from authsvc.store.schema import audit_head, audit_log


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


async def append(
    conn: AsyncConnection,
    keys: KeyStore,
    event: str,
    *,
    lender_id: str | None = None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry in the current transaction; returns its sequence number."""
    head = (
        await conn.execute(
            select(audit_head.c.seq, audit_head.c.entry_hash).where(audit_head.c.id == 1).with_for_update()
        )
    ).one()
    seq, at, key_id = head.seq + 1, now_iso(), keys.audit_key_id
    body = json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = entry_hash(head.entry_hash, canonical(seq, at, event, lender_id, subject, body, key_id))
    await conn.execute(
        audit_log.insert().values(
            seq=seq,
            at=at,
            event=event,
            lender_id=lender_id,
            subject=subject,
            details=body,
            key_id=key_id,
            prev_hash=head.entry_hash,
            entry_hash=digest,
            signature=keys.sign_audit(digest),
        )
    )
    await conn.execute(
        update(audit_head)
        .where(audit_head.c.id == 1)
        .values(
            seq=seq,
            entry_hash=digest,
            at=at,
            key_id=key_id,
            signature=keys.sign_audit(head_message(seq, digest, at)),
        )
    )
    return int(seq)


def _bytes(value: Any) -> bytes:
    # A tampered row may hold anything (SQLite stores '' as text): never let that crash the verifier.
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)


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
