"""Identification sessions: the record the identification flow fills in and other operations consume.

The flows issue adds steps and policies; what exists now is what the registry needs: an identification
is opened for a client and an operation, is completed by the flow (`mark_completed`), and is consumed
at most once by the operation it authorises (`consume`, an atomic conditional update — R-12.3).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import bindparam, select, update

from authsvc.store.db import Row, Statement, Tx
from authsvc.store.schema import identifications


class Operation(StrEnum):
    REGISTRATION = "registration"
    LOGIN = "login"
    CHANGE_CONTACT = "change_contact"
    LOAN_CONTRACT = "loan_contract"
    PAYOUT = "payout"


class Status(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class Identification:
    id: str
    lender_id: str
    client_id: str
    operation: Operation
    status: Status
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    consumed_at: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def open_(tx: Tx, lender_id: str, client_id: str, operation: Operation, ttl_s: int) -> Identification:
    now = datetime.now(UTC)
    ident = Identification(
        str(uuid.uuid4()),
        lender_id,
        client_id,
        operation,
        Status.PENDING,
        now,
        now + timedelta(seconds=ttl_s),
        None,
        None,
    )
    await tx.run(
        identifications.insert().values(
            id=ident.id,
            lender_id=lender_id,
            client_id=client_id,
            operation=operation.value,
            status=ident.status.value,
            created_at=now,
            expires_at=ident.expires_at,
        )
    )
    return ident


_GET = Statement(
    select(identifications).where(
        identifications.c.id == bindparam("id"), identifications.c.lender_id == bindparam("lender_id")
    )
)


async def get(tx: Tx, lender_id: str, ident_id: str) -> Identification | None:
    row = await tx.one(_GET, id=ident_id, lender_id=lender_id)
    return None if row is None else from_row(row)


def from_row(row: Row) -> Identification:
    return Identification(
        row["id"],
        row["lender_id"],
        row["client_id"],
        Operation(row["operation"]),
        Status(row["status"]),
        _aware(row["created_at"]) or datetime.now(UTC),
        _aware(row["expires_at"]) or datetime.now(UTC),
        _aware(row["completed_at"]),
        _aware(row["consumed_at"]),
    )


async def mark_completed(tx: Tx, ident_id: str) -> bool:
    """Called by the identification flow when every required step has passed."""
    result = await tx.run(
        update(identifications)
        .where(identifications.c.id == ident_id, identifications.c.status == Status.PENDING.value)
        .values(status=Status.COMPLETED.value, completed_at=datetime.now(UTC))
    )
    return result == 1


async def consume(
    tx: Tx,
    *,
    lender_id: str,
    client_id: str,
    ident_id: str,
    operation: Operation,
    max_age_s: int,
) -> bool:
    """Use a completed identification for ``operation`` once; False if absent, pending, stale or used."""
    now = datetime.now(UTC)
    result = await tx.run(
        update(identifications)
        .where(
            identifications.c.id == ident_id,
            identifications.c.lender_id == lender_id,
            identifications.c.client_id == client_id,
            identifications.c.operation == operation.value,
            identifications.c.status == Status.COMPLETED.value,
            identifications.c.consumed_at.is_(None),
            identifications.c.completed_at > now - timedelta(seconds=max_age_s),
        )
        .values(consumed_at=now)
    )
    return result == 1
