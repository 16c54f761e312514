"""Payout account ownership (R-NB.2): before money leaves, the bank confirms the IBAN or card belongs to
the client's IIN and is open. The HTTP step is ``POST /v1/identifications/{id}/payout-account``."""

from __future__ import annotations

from authsvc import error_codes
from authsvc.error_codes import Code
from authsvc.methods.factors import Factors
from authsvc.parties.bank import Ownership


async def confirm_account(
    factors: Factors,
    *,
    iin: str,
    iban: str | None = None,
    card_token: str | None = None,
    card_number: str | None = None,
) -> Ownership:
    """The bank's answer (check ``.payable``); raises ValidationFailed(one_payment_instrument) unless
    exactly one instrument is given, UpstreamUnavailable when the bank cannot say."""
    return await factors.bank.verify_owner(iin, iban=iban, card_token=card_token, card_number=card_number)


def refusal(ownership: Ownership) -> Code | None:
    """Why money may not go there, as a stable code; None when it may."""
    if not ownership.owner_match:
        return error_codes.PAYOUT_ACCOUNT_NOT_OWNED
    if ownership.status != "active":
        return error_codes.PAYOUT_ACCOUNT_INACTIVE
    return None
