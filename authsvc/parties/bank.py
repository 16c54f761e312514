"""Bank account / card ownership check (R-NB.2: confirm before payout that the account or card is the
client's; R-6.6 when they change it).

Contract: ``POST /v1/accounts/verify`` {iin, one of iban | card_token | card_number} →
{owner_match, instrument_found, status, kind} (simulators/bank/app.py speaks it). A read: retried.
"""

from __future__ import annotations

from typing import Literal

import aiohttp
from pydantic import BaseModel, ConfigDict

from authsvc import error_codes
from authsvc.errors import ValidationFailed
from authsvc.parties.jsonapi import Endpoint, JsonApi


class Ownership(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    owner_match: bool
    instrument_found: bool
    status: Literal["active", "closed", "blocked"] | None
    kind: Literal["account", "card"]

    @property
    def payable(self) -> bool:
        """Money may go there: it is the client's and it is open."""
        return self.owner_match and self.status == "active"


class BankClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self._api = JsonApi(session, endpoint)

    async def verify_owner(
        self,
        iin: str,
        *,
        iban: str | None = None,
        card_token: str | None = None,
        card_number: str | None = None,
    ) -> Ownership:
        """Whether the one instrument given belongs to ``iin``. Prefer the bank's card token to a card
        number: the service then never handles a full card number."""
        given = {k: v for k, v in (("iban", iban), ("card_token", card_token), ("card_number", card_number)) if v}
        if len(given) != 1:
            raise ValidationFailed(
                "give exactly one of iban, card_token, card_number", code=error_codes.ONE_PAYMENT_INSTRUMENT
            )
        answer = await self._api.call("POST", "/v1/accounts/verify", {"iin": iin, **given}, idempotent=True)
        if answer.status != 200:
            raise self._api.rejected(answer)
        return self._api.parse(answer, Ownership)
