"""Face references: the sealed face encoding of one client file (photo or identity document) per encoder model.

Written once, when the file is stored (or on the first liveness step of a client registered before, issue 13);
read by every liveness step instead of re-encoding the file. Sealed by `authsvc.cabinet` under the client's key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, bindparam, select

from authsvc.store.db import Statement, Tx
from authsvc.store.schema import client_files, face_references


@dataclass(frozen=True)
class FileReference:
    """The newest file of a kind, and its reference's sealed encoding when one was stored for the model."""

    file_id: str
    file_sealed: bytes
    reference_sealed: bytes | None


# The newest file of a kind with the reference of one model, if any: one round trip per liveness step.
_NEWEST = Statement(
    select(client_files.c.id, client_files.c.sealed, face_references.c.sealed.label("reference"))
    .select_from(
        client_files.outerjoin(
            face_references,
            and_(face_references.c.file_id == client_files.c.id, face_references.c.model == bindparam("model")),
        )
    )
    .where(client_files.c.client_id == bindparam("client_id"), client_files.c.kind == bindparam("kind"))
    .order_by(client_files.c.created_at.desc(), client_files.c.id.desc())
    .limit(1)
)


_HAS_FILE = Statement(
    select(client_files.c.id)
    .where(client_files.c.client_id == bindparam("client_id"), client_files.c.kind == bindparam("kind"))
    .limit(1)
)


async def has_file(tx: Tx, client_id: str, kind: str) -> bool:
    """Whether the client has a file of ``kind`` (its bytes are not read)."""
    return await tx.one(_HAS_FILE, client_id=client_id, kind=kind) is not None


async def newest(tx: Tx, client_id: str, kind: str, model: str) -> FileReference | None:
    row = await tx.one(_NEWEST, client_id=client_id, kind=kind, model=model)
    if row is None:
        return None
    ref = row["reference"]
    return FileReference(row["id"], bytes(row["sealed"]), None if ref is None else bytes(ref))


async def insert(tx: Tx, client_id: str, file_id: str, model: str, sealed: bytes) -> None:
    """Raises `Duplicate` when the file already has a reference of this model (another step stored it)."""
    await tx.run(
        face_references.insert().values(
            file_id=file_id, model=model, client_id=client_id, sealed=sealed, created_at=datetime.now(UTC)
        )
    )
