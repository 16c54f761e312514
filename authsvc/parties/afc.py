"""The Anti-fraud centre (AFC, R-NB.8): the national grey/black list feed and the incident intake.

Contract (simulators/afc/app.py speaks it):
``GET /v1/lists/changes?since=CURSOR&limit=N`` → {changes: [{seq, op, entry_id, list, kind, value, reason,
added_at, expires_at}], cursor, more}; ``POST /v1/incidents`` {incident_id, reporter, kind,
confirmed_by_police, detected_at, client: {iin, phone}, loan, description} → {incident_id, afc_ref,
received_at}, de-duplicated by incident_id, so an export is retried safely after a timeout.
Timeouts, bounded retries and failure codes are `authsvc.parties.jsonapi`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlencode

import aiohttp
from pydantic import BaseModel, ConfigDict

from authsvc import error_codes
from authsvc.errors import Conflict, ValidationFailed
from authsvc.parties.jsonapi import Endpoint, JsonApi

_INCIDENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
PAGE = 200


class ListChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    seq: int
    op: Literal["add", "remove"]
    entry_id: str
    list: str = "grey"
    kind: str = "phone"
    value: str = ""
    reason: str = ""
    added_at: datetime | None = None
    expires_at: datetime | None = None


class ChangePage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    changes: list[ListChange]
    cursor: str
    more: bool


class IncidentReceipt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    incident_id: str
    afc_ref: str
    received_at: datetime


@dataclass(frozen=True)
class IncidentReport:
    incident_id: str  # ours, stable across retries: the AFC de-duplicates by it
    lender_id: str
    lender_name: str
    kind: str
    confirmed_by_police: bool
    detected_at: datetime
    iin: str
    phone: str
    contract_id: str | None
    loan_ref: str | None
    description: str


class AfcClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self._api = JsonApi(session, endpoint)

    async def changes(self, since: str | None, limit: int = PAGE) -> ChangePage:
        """The national lists' changes after ``since`` (None: from the start)."""
        query = urlencode({"since": since or "", "limit": limit})
        answer = await self._api.call("GET", f"/v1/lists/changes?{query}", idempotent=True)
        if answer.status != 200:
            raise self._api.rejected(answer)
        return self._api.parse(answer, ChangePage)

    async def report_incident(self, report: IncidentReport) -> IncidentReceipt:
        """Export an incident (safe to call again with the same id)."""
        if not _INCIDENT_ID.fullmatch(report.incident_id):
            raise ValidationFailed("incident ids are 1-64 of A-Z a-z 0-9 _ -", code=error_codes.VALIDATION_FAILED)
        body = {
            "incident_id": report.incident_id,
            "reporter": {"lender_id": report.lender_id, "lender_name": report.lender_name},
            "kind": report.kind,
            "confirmed_by_police": report.confirmed_by_police,
            "detected_at": report.detected_at.isoformat(),
            "client": {"iin": report.iin, "phone": report.phone},
            "loan": None
            if report.contract_id is None and report.loan_ref is None
            else {"contract_id": report.contract_id, "loan_ref": report.loan_ref},
            "description": report.description,
        }
        answer = await self._api.call("POST", "/v1/incidents", body, idempotent=True)
        if answer.status == 409:
            raise Conflict("the AFC holds this incident id with other data", code=error_codes.AFC_INCIDENT_CONFLICT)
        if answer.status not in (200, 201):
            raise self._api.rejected(answer)
        return self._api.parse(answer, IncidentReceipt)
