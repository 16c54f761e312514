"""Loan contracts and their signatures (R-10.1, R-12.1): rows only; sealing lives in `authsvc.contracts`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from authsvc.store.db import Row, Tx
from authsvc.store.schema import contract_signatures, contracts


@dataclass(frozen=True)
class ContractRow:
    id: str
    lender_id: str
    client_id: str
    kek_id: str
    data_key: bytes
    sealed: bytes
    has_document: bool
    status: str  # "unsigned" | "signed"
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SignatureRow:
    id: str
    contract_id: str
    method: str  # "eds" | "otp"
    sealed: bytes
    signed_at: datetime


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _contract(r: Row) -> ContractRow:
    return ContractRow(
        r["id"],
        r["lender_id"],
        r["client_id"],
        r["kek_id"],
        bytes(r["data_key"]),
        bytes(r["sealed"]),
        bool(r["has_document"]),
        r["status"],
        _aware(r["created_at"]),
        _aware(r["updated_at"]),
    )


async def insert(tx: Tx, row: ContractRow) -> None:
    await tx.run(
        contracts.insert().values(
            id=row.id,
            lender_id=row.lender_id,
            client_id=row.client_id,
            kek_id=row.kek_id,
            data_key=row.data_key,
            sealed=row.sealed,
            has_document=row.has_document,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )
    )


async def get(tx: Tx, lender_id: str, contract_id: str) -> ContractRow | None:
    row = await tx.one(select(contracts).where(contracts.c.id == contract_id, contracts.c.lender_id == lender_id))
    return None if row is None else _contract(row)


async def store_document(tx: Tx, contract_id: str, sealed: bytes) -> None:
    """Keep the document a hash-only contract was signed over (given with the signature)."""
    await tx.run(
        update(contracts)
        .where(contracts.c.id == contract_id)
        .values(sealed=sealed, has_document=True, updated_at=datetime.now(UTC))
    )


async def add_signature(tx: Tx, row: SignatureRow) -> None:
    await tx.run(
        contract_signatures.insert().values(
            id=row.id, contract_id=row.contract_id, method=row.method, sealed=row.sealed, signed_at=row.signed_at
        )
    )
    await tx.run(
        update(contracts).where(contracts.c.id == row.contract_id).values(status="signed", updated_at=row.signed_at)
    )


async def signatures_of(tx: Tx, contract_id: str) -> list[SignatureRow]:
    rows = await tx.all(
        select(contract_signatures)
        .where(contract_signatures.c.contract_id == contract_id)
        .order_by(contract_signatures.c.signed_at, contract_signatures.c.id)
    )
    return [
        SignatureRow(r["id"], r["contract_id"], r["method"], bytes(r["sealed"]), _aware(r["signed_at"])) for r in rows
    ]
