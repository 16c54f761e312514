"""Mobile-operator subscriber check (R-108.1; R-NB.4): does this phone number belong to this IIN?

Contract: ``POST /v1/subscriber/check`` {iin, phone} → {match, registered_to_individual, operator,
sim_issued_at, owner_since, checked_at} (simulators/telco/app.py speaks it). A read: retried.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import aiohttp
from pydantic import BaseModel, ConfigDict

from authsvc.parties.jsonapi import Endpoint, JsonApi


class SubscriberCheck(BaseModel):
    """The operator's answer. ``confirmed`` is what R-108.1 asks: the number is registered to this
    individual. The dates let a flow treat a freshly re-issued SIM (SIM swap) as a risk signal."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    match: bool
    registered_to_individual: bool
    operator: Literal["Beeline", "Kcell", "Tele2", "Altel"] | None
    sim_issued_at: datetime | None
    owner_since: datetime | None
    checked_at: datetime

    @property
    def confirmed(self) -> bool:
        return self.match and self.registered_to_individual

    def sim_changed_within(self, period: timedelta, *, now: datetime) -> bool:
        """True when the SIM or the number's holder changed less than ``period`` before ``now``."""
        recent = [at for at in (self.sim_issued_at, self.owner_since) if at is not None]
        return any(now - at < period for at in recent)


class TelcoClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self._api = JsonApi(session, endpoint)

    async def check_subscriber(self, iin: str, phone: str) -> SubscriberCheck:
        """Ask whether ``phone`` (E.164) is held by ``iin``. Raises UpstreamUnavailable subclasses."""
        answer = await self._api.call("POST", "/v1/subscriber/check", {"iin": iin, "phone": phone}, idempotent=True)
        if answer.status != 200:
            raise self._api.rejected(answer)
        return self._api.parse(answer, SubscriberCheck)
