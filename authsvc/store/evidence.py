"""The register of identification evidence already used (R-12.3): a signed CMS, an OTP, a capture.

Each piece of evidence is recorded by a digest under a kind; recording it a second time — for the same
identification or another, in any process — fails on the primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite

from authsvc.store.db import Tx
from authsvc.store.schema import used_evidence


async def claim(tx: Tx, kind: str, digest: bytes, identification_id: str) -> bool:
    """Record first use; False when this evidence was used before (the transaction must then roll back).
    ON CONFLICT DO NOTHING: one statement, no error to recover from, the same on both backends."""
    insert = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
    written = await tx.run(
        insert(used_evidence)
        .values(kind=kind, digest=digest, identification_id=identification_id, used_at=datetime.now(UTC))
        .on_conflict_do_nothing()
    )
    return written == 1
