"""Credit bureau: voluntary loan refusals (R-NB.6) and real-time application reports (R-NB.7).

Contract (simulators/bureau/app.py speaks it):
``GET /v1/refusals/{iin}`` → {iin, refusal, registered_at, checked_at};
``POST /v1/applications`` {application_id, iin, lender_bin, amount, currency, channel, submitted_at}
→ {application_id, status, received_at, refusal_on_file, client_notified}, de-duplicated by
application_id, so the report is retried safely after a timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict

from authsvc import error_codes
from authsvc.errors import Conflict, ValidationFailed
from authsvc.parties.jsonapi import Endpoint, JsonApi

_APPLICATION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class RefusalStatus(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    iin: str
    refusal: bool
    registered_at: datetime | None
    checked_at: datetime


class ApplicationReceipt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    application_id: str
    status: str
    received_at: datetime
    refusal_on_file: bool
    client_notified: bool


@dataclass(frozen=True)
class LoanApplication:
    application_id: str  # ours, stable across retries: the bureau de-duplicates by it
    iin: str
    lender_bin: str
    amount: int  # whole tenge
    submitted_at: datetime
    channel: Literal["online", "terminal"] = "online"
    currency: Literal["KZT"] = "KZT"


class BureauClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self._api = JsonApi(session, endpoint)

    async def refusal(self, iin: str) -> RefusalStatus:
        """Whether the client registered a voluntary refusal of loans; if so no loan may be issued."""
        if not (iin.isascii() and iin.isdigit() and len(iin) == 12):
            raise ValidationFailed("an IIN is 12 digits", code=error_codes.INVALID_IIN)
        answer = await self._api.call("GET", f"/v1/refusals/{quote(iin)}", idempotent=True)
        if answer.status != 200:
            raise self._api.rejected(answer)
        return self._api.parse(answer, RefusalStatus)

    async def report_application(self, application: LoanApplication) -> ApplicationReceipt:
        """Report a loan application as it arrives (R-NB.7); safe to call again with the same id."""
        if not _APPLICATION_ID.fullmatch(application.application_id):
            raise ValidationFailed("application ids are 1-64 of A-Z a-z 0-9 _ -", code=error_codes.BAD_APPLICATION_ID)
        body = {
            "application_id": application.application_id,
            "iin": application.iin,
            "lender_bin": application.lender_bin,
            "amount": application.amount,
            "currency": application.currency,
            "channel": application.channel,
            "submitted_at": application.submitted_at.isoformat(),
        }
        answer = await self._api.call("POST", "/v1/applications", body, idempotent=True)
        if answer.status == 409:
            raise Conflict(
                "the bureau holds this application id with other data", code=error_codes.BUREAU_APPLICATION_CONFLICT
            )
        if answer.status not in (200, 201):
            raise self._api.rejected(answer)
        return self._api.parse(answer, ApplicationReceipt)
