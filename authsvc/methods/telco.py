"""Mobile-operator number check (R-108.1): is the client's registered phone held by their IIN, registered
to an individual (not a company), and since when — a SIM re-issued or a number transferred recently is
a risk signal (SIM swap) the flows weigh. Answers are cached for `telco_cache_ttl_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from authsvc.crypto.keystore import KeyStore
from authsvc.methods.factors import Factors
from authsvc.parties.telco import SubscriberCheck
from authsvc.store import telco_cache
from authsvc.store.db import Database


@dataclass(frozen=True)
class TelcoVerdict:
    check: SubscriberCheck
    cached: bool
    sim_recently_changed: bool

    @property
    def passed(self) -> bool:
        return self.check.confirmed

    def details(self) -> dict[str, object]:
        """Step details: no number, no IIN, no dates (only whether the change is recent)."""
        return {
            "match": self.check.match,
            "registered_to_individual": self.check.registered_to_individual,
            "operator": self.check.operator,
            "sim_recently_changed": self.sim_recently_changed,
            "cached": self.cached,
        }


async def check_phone(db: Database, keys: KeyStore, factors: Factors, *, iin: str, phone: str) -> TelcoVerdict:
    """Ask the operator (or the cache). The remote call happens outside any transaction; a failure
    raises UpstreamUnavailable and leaves nothing written."""
    key = await keys.aindex_mac("telco", f"{iin}:{phone}")
    async with db.autocommit() as tx:
        cached = await telco_cache.get(tx, key)
    if cached is not None:
        check, hit = SubscriberCheck.model_validate_json(cached), True
    else:
        check, hit = await factors.telco.check_subscriber(iin, phone), False
        if factors.settings.telco_cache_ttl_s > 0:
            async with db.transaction() as tx:
                await telco_cache.put(tx, key, check.model_dump_json(), ttl_s=factors.settings.telco_cache_ttl_s)
    recent = check.sim_changed_within(timedelta(days=factors.settings.sim_swap_days), now=datetime.now(UTC))
    return TelcoVerdict(check, hit, recent)
