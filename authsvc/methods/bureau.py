"""Credit bureau (R-NB.6, R-NB.7): no loan contract for a client who registered a voluntary refusal of
loans, and every application reported as it arrives. Functions the flows compose; the HTTP step is
``POST /v1/identifications/{id}/bureau-refusal``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from authsvc import error_codes
from authsvc.errors import Conflict
from authsvc.methods.factors import Factors
from authsvc.parties.bureau import ApplicationReceipt, LoanApplication, RefusalStatus


class VoluntaryRefusal(Conflict):
    """The client registered a voluntary refusal of loans at the bureau: the operation is blocked."""

    code = error_codes.VOLUNTARY_REFUSAL


async def ensure_no_refusal(factors: Factors, *, iin: str) -> RefusalStatus:
    """The bureau's answer when no refusal is on file; raises VoluntaryRefusal (409) when one is,
    UpstreamUnavailable (503) when the bureau cannot say — a loan must not go ahead unchecked."""
    status = await factors.bureau.refusal(iin)
    if status.refusal:
        raise VoluntaryRefusal(
            "the client has registered a voluntary refusal of loans (R-NB.6); no contract may be concluded"
        )
    return status


async def report_application(
    factors: Factors,
    *,
    application_id: str,
    iin: str,
    lender_bin: str,
    amount: int,
    submitted_at: datetime | None = None,
    channel: Literal["online", "terminal"] = "online",
) -> ApplicationReceipt:
    """Report a loan application in real time (R-NB.7); retry-safe with the same ``application_id``."""
    return await factors.bureau.report_application(
        LoanApplication(
            application_id=application_id,
            iin=iin,
            lender_bin=lender_bin,
            amount=amount,
            submitted_at=submitted_at or datetime.now(UTC),
            channel=channel,
        )
    )
