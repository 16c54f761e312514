"""Steps taken on an identification (EDS, liveness, OTP, CDAO, telco): outcome and non-personal details.

The flows issue reads these to decide when an identification is complete under a regulatory profile.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import bindparam, func, select
from sqlalchemy.sql.elements import ColumnElement

from authsvc.store import bounds
from authsvc.store.db import Insert, Row, Statement, Tx, Written
from authsvc.store.schema import identification_steps

Outcome = Literal["passed", "failed"]
# (passed, details) -> the rows recording a step (the flow's recorder: step, signals, audit entry), which a
# method writes in the same transaction as its own change (a challenge's use, a capture).
StepRecords = Callable[[bool, Mapping[str, Any]], Awaitable[Sequence[Written]]]


@dataclass(frozen=True)
class Step:
    id: str
    method: str
    outcome: Outcome
    details: dict[str, Any]
    created_at: datetime


def row(identification_id: str, method: str, outcome: Outcome, details: Mapping[str, Any]) -> tuple[Step, Insert]:
    """A new step and the row that records it (for `Tx.write`, to go with the change it reports)."""
    step = Step(str(uuid.uuid4()), method, outcome, dict(details), datetime.now(UTC))
    values = {
        "id": step.id,
        "identification_id": identification_id,
        "method": method,
        "outcome": outcome,
        "details": json.dumps(step.details, sort_keys=True, default=str),
        "created_at": step.created_at,
    }
    return step, Insert(identification_steps, values)


async def record(tx: Tx, identification_id: str, method: str, outcome: Outcome, details: Mapping[str, Any]) -> Step:
    step, insert = row(identification_id, method, outcome, details)
    await tx.write([insert])
    return step


_OF = Statement(
    select(identification_steps)
    .where(identification_steps.c.identification_id == bindparam("ident_id"))
    .order_by(identification_steps.c.created_at, identification_steps.c.id)
)


# The steps to judge, each row also saying whether the client has a suspended factor (which a completion of
# a stronger kind reinstates, issue 16), so judging and ending an identification read once.
_SETTLING = Statement(
    select(identification_steps, bounds.any_suspended(bindparam("client_id")).label("factor_suspended"))
    .where(identification_steps.c.identification_id == bindparam("ident_id"))
    .order_by(identification_steps.c.created_at, identification_steps.c.id)
)


def taken_count(identification_id: ColumnElement[str]) -> ColumnElement[int]:
    """How many steps the identification has (for a read that goes with it: the fast path's `Flows.step`)."""
    return (
        select(func.count())
        .select_from(identification_steps)
        .where(identification_steps.c.identification_id == identification_id)
        .scalar_subquery()
    )


async def of(tx: Tx, identification_id: str) -> list[Step]:
    return _steps(await tx.all(_OF, ident_id=identification_id))


async def settling(tx: Tx, identification_id: str, client_id: str) -> tuple[list[Step], bool]:
    """The steps, and whether the client has a suspended factor (False when there is no step yet)."""
    rows = await tx.all(_SETTLING, ident_id=identification_id, client_id=client_id)
    return _steps(rows), bool(rows and rows[0]["factor_suspended"])


def _steps(rows: Sequence[Row]) -> list[Step]:
    return [
        Step(
            r["id"],
            r["method"],
            r["outcome"],
            json.loads(r["details"]),
            r["created_at"].replace(tzinfo=UTC) if r["created_at"].tzinfo is None else r["created_at"],
        )
        for r in rows
    ]
