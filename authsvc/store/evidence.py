"""The register of identification evidence already used (R-12.3): a signed CMS, an OTP, a capture.

Each piece of evidence is recorded by a digest under a kind; recording it a second time — for the same
identification or another, in any process — fails on the primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from authsvc.store.schema import used_evidence


async def claim(conn: AsyncConnection, kind: str, digest: bytes, identification_id: str) -> bool:
    """Record first use; False when this evidence was used before (the transaction must then roll back)."""
    try:
        await conn.execute(
            used_evidence.insert().values(
                kind=kind, digest=digest, identification_id=identification_id, used_at=datetime.now(UTC)
            )
        )
    except IntegrityError:
        return False
    return True
