"""Steps taken on an identification (EDS, liveness, OTP, CDAO, telco): outcome and non-personal details.

The flows issue reads these to decide when an identification is complete under a regulatory profile.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select

from authsvc.store.db import Insert, Tx
from authsvc.store.schema import identification_steps

Outcome = Literal["passed", "failed"]


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


async def of(tx: Tx, identification_id: str) -> list[Step]:
    rows = await tx.all(
        select(identification_steps)
        .where(identification_steps.c.identification_id == identification_id)
        .order_by(identification_steps.c.created_at, identification_steps.c.id)
    )
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
