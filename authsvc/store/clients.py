"""Client rows and their files. Everything personal arrives here already sealed (see authsvc.cabinet.service)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from authsvc.store.db import Statement, Tx
from authsvc.store.schema import client_files, clients


@dataclass(frozen=True)
class ClientRow:
    id: str
    lender_id: str
    kind: str
    test_pki: bool
    kek_id: str
    data_key: bytes
    pii_sealed: bytes
    card_token: str | None
    card_last4: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    identified_at: datetime | None = None  # when a registration identification completed


@dataclass(frozen=True)
class FileRow:
    id: str
    kind: str
    content_type: str
    size: int
    sha256: str


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


async def insert(tx: Tx, row: ClientRow, iin_mac: bytes) -> None:
    """Raises `Duplicate` when the lender already has a client with this IIN/BIN."""
    await tx.run(
        clients.insert().values(
            id=row.id,
            lender_id=row.lender_id,
            kind=row.kind,
            iin_mac=iin_mac,
            test_pki=row.test_pki,
            kek_id=row.kek_id,
            data_key=row.data_key,
            pii_sealed=row.pii_sealed,
            card_token=row.card_token,
            card_last4=row.card_last4,
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
    )


async def insert_file(tx: Tx, client_id: str, file: FileRow, sealed: bytes) -> None:
    await tx.run(
        client_files.insert().values(
            id=file.id,
            client_id=client_id,
            kind=file.kind,
            content_type=file.content_type,
            size=file.size,
            sha256=file.sha256,
            sealed=sealed,
            created_at=datetime.now(UTC),
        )
    )


def _row(r: Any) -> ClientRow:
    return ClientRow(
        id=r["id"],
        lender_id=r["lender_id"],
        kind=r["kind"],
        test_pki=bool(r["test_pki"]),
        kek_id=r["kek_id"],
        data_key=bytes(r["data_key"]),
        pii_sealed=bytes(r["pii_sealed"]),
        card_token=r["card_token"],
        card_last4=r["card_last4"],
        version=r["version"],
        created_at=_aware(r["created_at"]),
        updated_at=_aware(r["updated_at"]),
        identified_at=None if r["identified_at"] is None else _aware(r["identified_at"]),
    )


_GET = Statement(
    select(clients).where(clients.c.id == bindparam("client_id"), clients.c.lender_id == bindparam("lender_id"))
)


async def get(tx: Tx, lender_id: str, client_id: str) -> ClientRow | None:
    """The client if it belongs to this lender; another lender's client is simply not found."""
    r = await tx.one(_GET, client_id=client_id, lender_id=lender_id)
    return None if r is None else _row(r)


async def find_by_mac(tx: Tx, lender_id: str, iin_mac: bytes) -> ClientRow | None:
    r = await tx.one(select(clients).where(clients.c.lender_id == lender_id, clients.c.iin_mac == iin_mac))
    return None if r is None else _row(r)


async def files_of(tx: Tx, client_id: str) -> list[FileRow]:
    rows = await tx.all(
        select(
            client_files.c.id,
            client_files.c.kind,
            client_files.c.content_type,
            client_files.c.size,
            client_files.c.sha256,
        )
        .where(client_files.c.client_id == client_id)
        .order_by(client_files.c.created_at, client_files.c.id)
    )
    return [FileRow(r["id"], r["kind"], r["content_type"], r["size"], r["sha256"]) for r in rows]


async def update_contact(
    tx: Tx,
    row: ClientRow,
    *,
    pii_sealed: bytes,
    card_token: str | None,
    card_last4: str | None,
) -> bool:
    """Optimistic update: False when the row changed since it was read."""
    result = await tx.run(
        update(clients)
        .where(clients.c.id == row.id, clients.c.version == row.version)
        .values(
            pii_sealed=pii_sealed,
            card_token=card_token,
            card_last4=card_last4,
            version=row.version + 1,
            updated_at=datetime.now(UTC),
        )
    )
    return result == 1


# Registration completed by an item-7 method; the first completion stands. Parameters: client_id, at.
MARK_IDENTIFIED = Statement(
    update(clients)
    .where(clients.c.id == bindparam("client_id"), clients.c.identified_at.is_(None))
    .values(identified_at=bindparam("at", type_=clients.c.identified_at.type))
)
