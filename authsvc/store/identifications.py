"""Identification sessions: the record the identification flow (`authsvc.flows`) fills in and operations consume.

An identification is opened for a client, an operation and a profile; it leaves `pending` once, by a
conditional update (`end`: completed, failed or expired — whichever process gets there first wins and the
others change nothing), and a completed one is consumed at most once by the operation it authorises
(`consume`, an atomic conditional update — R-12.3).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.sql.elements import ColumnElement

from authsvc.store.db import Insert, Row, Statement, Tx
from authsvc.store.schema import identification_steps, identifications


class Operation(StrEnum):
    REGISTRATION = "registration"
    LOGIN = "login"
    CHANGE_CONTACT = "change_contact"
    FACTOR_RESET = "factor_reset"  # a new authenticator in place of a lost or compromised one
    LOAN_CONTRACT = "loan_contract"
    PAYOUT = "payout"


class Status(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"


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
    profile: str = "res63-2021"
    ended_at: datetime | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    attestation: str | None = None
    risk: tuple[str, ...] = ()

    def is_open(self, now: datetime) -> bool:
        return self.status == Status.PENDING and self.expires_at > now


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def new(
    lender_id: str,
    client_id: str,
    operation: Operation,
    ttl_s: int,
    profile: str = "res63-2021",
    risk: tuple[str, ...] = (),
) -> tuple[Identification, Insert]:
    """A new pending identification and the row recording it (for `Tx.write`, with its audit entry)."""
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
        profile,
        risk=risk,
    )
    values = {
        "id": ident.id,
        "lender_id": lender_id,
        "client_id": client_id,
        "operation": operation.value,
        "status": ident.status.value,
        "created_at": now,
        "expires_at": ident.expires_at,
        "profile": profile,
        "risk": json.dumps(list(risk)) if risk else None,
    }
    return ident, Insert(identifications, values)


async def open_(
    tx: Tx,
    lender_id: str,
    client_id: str,
    operation: Operation,
    ttl_s: int,
    profile: str = "res63-2021",
    risk: tuple[str, ...] = (),
) -> Identification:
    ident, row = new(lender_id, client_id, operation, ttl_s, profile, risk)
    await tx.write([row])
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
        row["profile"],
        _aware(row["ended_at"]),
        row["failure_code"],
        row["failure_reason"],
        row["attestation"],
        tuple(json.loads(row["risk"])) if row["risk"] else (),
    )


# Leaving `pending`: one conditional statement, the ended row returned (nothing when another call won). An
# identification used by its own completion (a registration, R-6.4) is consumed by the same statement.
def _end(*more: ColumnElement[bool]) -> Statement:
    return Statement(
        update(identifications)
        .where(identifications.c.id == bindparam("ident_id"), identifications.c.status == Status.PENDING.value, *more)
        .values(
            status=bindparam("to_status"),
            ended_at=bindparam("at"),
            completed_at=bindparam("completed_at"),
            consumed_at=bindparam("consumed_at"),
            failure_code=bindparam("failure_code"),
            failure_reason=bindparam("failure_reason"),
            attestation=bindparam("attestation"),
        )
        .returning(*identifications.c)
    )


END = _end()
# `END` for an identification whose only step is the one just written (``own_step``): judged on that step alone,
# it ends only if no other step exists when the statement runs (another process's step, or one this read did
# not see, sends the caller back to judge every step: `Flows.settle`).
END_ALONE = _end(
    ~exists(
        select(identification_steps.c.id).where(
            identification_steps.c.identification_id == bindparam("ident_id"),
            identification_steps.c.id != bindparam("own_step"),
        )
    )
)


def end_params(
    ident_id: str,
    status: Status,
    *,
    at: datetime,
    failure_code: str | None = None,
    failure_reason: str | None = None,
    attestation: str | None = None,
    consumed: bool = False,
) -> dict[str, Any]:
    """The parameters of `END` (for `Tx.write(first=END, **params)`, with the rows recording the end);
    ``consumed``: the completion is the identification's one use (R-12.3)."""
    completed = status == Status.COMPLETED
    return {
        "ident_id": ident_id,
        "to_status": status.value,
        "at": at,
        "completed_at": at if completed else None,
        "consumed_at": at if completed and consumed else None,
        "failure_code": failure_code,
        "failure_reason": failure_reason,
        "attestation": attestation,
    }


async def due_to_expire(tx: Tx, now: datetime, limit: int) -> list[Identification]:
    """Pending identifications past their expiry, oldest first (for the housekeeping sweep)."""
    rows = await tx.all(
        select(identifications)
        .where(identifications.c.status == Status.PENDING.value, identifications.c.expires_at <= now)
        .order_by(identifications.c.expires_at)
        .limit(limit)
    )
    return [from_row(r) for r in rows]


_LATEST_COMPLETED = Statement(
    select(identifications)
    .where(
        identifications.c.lender_id == bindparam("lender_id"),
        identifications.c.client_id == bindparam("client_id"),
        identifications.c.operation == bindparam("operation"),
        identifications.c.status == Status.COMPLETED.value,
    )
    .order_by(identifications.c.completed_at.desc())
    .limit(1)
)


async def latest_completed(tx: Tx, lender_id: str, client_id: str, operation: Operation) -> Identification | None:
    """The client's most recently completed identification for ``operation`` (the cooling-off rule's anchor)."""
    row = await tx.one(_LATEST_COMPLETED, lender_id=lender_id, client_id=client_id, operation=operation.value)
    return None if row is None else from_row(row)


_CONSUME = Statement(
    update(identifications)
    .where(
        identifications.c.id == bindparam("b_id"),
        identifications.c.lender_id == bindparam("b_lender"),
        identifications.c.client_id == bindparam("b_client"),
        identifications.c.operation == bindparam("b_operation"),
        identifications.c.status == Status.COMPLETED.value,
        identifications.c.consumed_at.is_(None),
        identifications.c.completed_at > bindparam("b_since", type_=identifications.c.completed_at.type),
    )
    .values(consumed_at=bindparam("b_now", type_=identifications.c.consumed_at.type))
)


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
    used = await tx.run(
        _CONSUME,
        b_id=ident_id,
        b_lender=lender_id,
        b_client=client_id,
        b_operation=operation.value,
        b_since=now - timedelta(seconds=max_age_s),
        b_now=now,
    )
    return used == 1
