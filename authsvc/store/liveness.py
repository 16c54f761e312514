"""Liveness captures (R-7.3b, R-12.3): raw media and the best frame sealed under their own data key and
deleted when their retention ends; the fingerprint stays for the reuse check, the decision and scores stay
in the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select, update

from authsvc.store.db import Tx
from authsvc.store.schema import liveness_captures


@dataclass(frozen=True)
class CaptureRow:
    id: str
    identification_id: str
    client_id: str
    passed: bool
    fingerprint: str | None
    kek_id: str
    data_key: bytes | None
    media_sealed: bytes | None
    best_frame_sealed: bytes | None
    created_at: datetime
    media_delete_at: datetime


async def insert(tx: Tx, row: CaptureRow) -> None:
    await tx.run(
        liveness_captures.insert().values(
            id=row.id,
            identification_id=row.identification_id,
            client_id=row.client_id,
            passed=row.passed,
            fingerprint=row.fingerprint,
            kek_id=row.kek_id,
            data_key=row.data_key,
            media_sealed=row.media_sealed,
            best_frame_sealed=row.best_frame_sealed,
            created_at=row.created_at,
            media_delete_at=row.media_delete_at,
        )
    )


async def fingerprints_to_compare(tx: Tx, client_id: str, since: datetime, limit: int) -> list[str]:
    """Fingerprints of this client's earlier captures (all) and of everyone's recent ones."""
    query = (
        select(liveness_captures.c.fingerprint)
        .where(
            liveness_captures.c.fingerprint.is_not(None),
            or_(liveness_captures.c.client_id == client_id, liveness_captures.c.created_at >= since),
        )
        .order_by(liveness_captures.c.created_at.desc())
        .limit(limit)
    )
    return [r["fingerprint"] for r in await tx.all(query)]


async def best_frame(tx: Tx, identification_id: str) -> CaptureRow | None:
    """The latest passed capture of an identification that still has its best frame."""
    row = await tx.one(
        select(liveness_captures)
        .where(
            liveness_captures.c.identification_id == identification_id,
            liveness_captures.c.passed.is_(True),
            liveness_captures.c.best_frame_sealed.is_not(None),
        )
        .order_by(liveness_captures.c.created_at.desc())
        .limit(1)
    )
    if row is None:
        return None
    return CaptureRow(**{c: row[c] for c in CaptureRow.__dataclass_fields__})


async def purge_media(tx: Tx, now: datetime | None = None) -> int:
    """Delete raw media, best frames and their data key once their retention is over."""
    now = now or datetime.now(UTC)
    result = await tx.run(
        update(liveness_captures)
        .where(liveness_captures.c.media_delete_at <= now, liveness_captures.c.data_key.is_not(None))
        .values(media_sealed=None, best_frame_sealed=None, data_key=None)
    )
    return int(result)
