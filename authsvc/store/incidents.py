"""Incident rows (R-15.1, R-108.2). The description arrives sealed (see authsvc.incidents.service)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from authsvc.store.db import Row, Tx
from authsvc.store.schema import incidents, lenders

OPEN, OVERDUE, CLOSED = "open", "overdue", "closed"
PENDING, EXPORTED = "pending", "exported"


@dataclass(frozen=True)
class IncidentRow:
    id: str
    lender_id: str
    client_id: str
    contract_id: str | None
    loan_ref: str | None
    kind: str
    confirmed_by_police: bool
    status: str
    kek_id: str
    data_key: bytes
    sealed: bytes
    detected_at: datetime
    calendar_covered: bool
    client_due_on: str
    client_due_at: datetime
    regulator_due_on: str
    regulator_due_at: datetime
    measures_due_on: str
    measures_due_at: datetime
    client_informed_at: datetime | None
    regulator_informed_at: datetime | None
    measures_taken_at: datetime | None
    closed_at: datetime | None
    loan_suspended: bool
    sms_id: str | None
    afc_status: str
    afc_ref: str | None
    afc_exported_at: datetime | None
    notified: str
    version: int
    created_at: datetime
    updated_at: datetime


_FIELDS = tuple(f.name for f in dataclasses.fields(IncidentRow))
_TIMES = {f.name for f in dataclasses.fields(IncidentRow) if "datetime" in str(f.type)}


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _row(r: Row) -> IncidentRow:
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = r[name]
        if name in _TIMES:
            value = _aware(value)
        elif name in ("data_key", "sealed"):
            value = bytes(value)
        elif name in ("confirmed_by_police", "calendar_covered", "loan_suspended"):
            value = bool(value)
        values[name] = value
    return IncidentRow(**values)


async def insert_incident(tx: Tx, row: IncidentRow) -> None:
    await tx.run(insert(incidents).values(**dataclasses.asdict(row)))


async def get(tx: Tx, lender_id: str, incident_id: str, *, for_update: bool = False) -> IncidentRow | None:
    """The incident if it belongs to this lender; another lender's is simply not found. ``for_update``
    locks the row until the transaction ends (PostgreSQL; SQLite's writers are serialised anyway)."""
    query = select(incidents).where(incidents.c.id == incident_id, incidents.c.lender_id == lender_id)
    r = await tx.one(query.with_for_update() if for_update else query)
    return None if r is None else _row(r)


async def of_lender(tx: Tx, lender_id: str, status: str | None, limit: int) -> list[IncidentRow]:
    query = select(incidents).where(incidents.c.lender_id == lender_id)
    if status is not None:
        query = query.where(incidents.c.status == status)
    rows = await tx.all(query.order_by(incidents.c.detected_at.desc(), incidents.c.id).limit(limit))
    return [_row(r) for r in rows]


async def unfinished(tx: Tx, limit: int) -> list[IncidentRow]:
    """Open and overdue incidents, oldest first: what housekeeping looks at."""
    rows = await tx.all(
        select(incidents)
        .where(incidents.c.status.in_((OPEN, OVERDUE)))
        .order_by(incidents.c.detected_at, incidents.c.id)
        .limit(limit)
    )
    return [_row(r) for r in rows]


async def pending_exports(tx: Tx, limit: int) -> list[IncidentRow]:
    rows = await tx.all(
        select(incidents).where(incidents.c.afc_status == PENDING).order_by(incidents.c.created_at).limit(limit)
    )
    return [_row(r) for r in rows]


async def change(tx: Tx, row: IncidentRow, **values: Any) -> IncidentRow | None:
    """Optimistic update: the new row, or None when it changed since ``row`` was read."""
    new = dataclasses.replace(row, **values, version=row.version + 1, updated_at=datetime.now(UTC))
    changed = await tx.run(
        update(incidents)
        .where(incidents.c.id == row.id, incidents.c.version == row.version)
        .values(**values, version=new.version, updated_at=new.updated_at)
    )
    return new if changed == 1 else None


async def suspension_of_contract(tx: Tx, lender_id: str, contract_id: str) -> Sequence[str]:
    """Ids of this contract's incidents that suspend its interest accrual and collection (R-108.2)."""
    rows = await tx.all(
        select(incidents.c.id).where(
            incidents.c.lender_id == lender_id,
            incidents.c.contract_id == contract_id,
            incidents.c.loan_suspended.is_(True),
        )
    )
    return [r["id"] for r in rows]


async def lender_name(tx: Tx, lender_id: str) -> str:
    value = await tx.scalar(select(lenders.c.name).where(lenders.c.id == lender_id))
    return "" if value is None else str(value)
