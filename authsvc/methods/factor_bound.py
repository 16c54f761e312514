"""The per-account bound on guessing (issue 16, NIST SP 800-63B §5.2.2; R-12.3): consecutive wrong answers on
one person's factor, counted across addresses, processes and lenders (`authsvc.store.bounds`), suspend that
factor at ``[factors] factor_failure_limit``.

Only that factor stops: the person's other factors, and the same factor of nobody else, go on working, so a
guesser who suspends an authenticator cannot lock the client out. A suspended factor comes back when the
lender reinstates it (`reinstate`, ``POST /v1/clients/{id}/factors/{factor}/reinstate``) or when an
identification of a stronger kind completes (`reinstate_after_identification`, which the identification flow
calls). Every suspension and reinstatement is audited and told to the client by SMS. The per-address delays of
`authsvc.methods.abuse` stay in front as the first line.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from authsvc import error_codes
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.config import FactorSettings
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound
from authsvc.methods import sms_queue
from authsvc.store import bounds
from authsvc.store.db import Tx

FACTORS = bounds.FACTORS
# The step methods that stand for each factor (sms and voice reach the same phone: one factor).
FACTOR_OF_METHOD = {
    "otp_sms": "sms",
    "otp_voice": "sms",
    "otp_totp": "totp",
    "otp_hotp": "hotp",
    "password": "password",
}
# Identifications of these kinds are stronger than any suspended factor: a qualified signature (EDS) or the
# person's face (liveness, the CDAO biometric check)..
STRONGER = frozenset({"eds", "liveness", "cdao"})

Outcome = Literal["right", "wrong", "duplicate"]


def suspended(factor: str) -> Conflict:
    return Conflict(
        f"the client's {factor} factor is suspended after repeated wrong answers; use another method",
        code=error_codes.FACTOR_SUSPENDED,
        factor=factor,
    )


async def charge(tx: Tx, s: FactorSettings, *, client_id: str, factor: str) -> bounds.Charged:
    """Charge the attempt about to be checked (see `authsvc.store.bounds`); Conflict(factor_suspended) at the limit."""
    charged = await bounds.charge(tx, client_id, factor, limit=s.factor_failure_limit)
    if charged is None:
        if await bounds.person_of(tx, client_id) is None:
            raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
        raise suspended(factor)
    return charged


async def settle(
    tx: Tx,
    keys: KeyStore,
    s: FactorSettings,
    charged: bounds.Charged,
    *,
    lender_id: str,
    client_id: str,
    factor: str,
    outcome: Outcome,
) -> None:
    """After a `charge`d check: a right answer forgives, a duplicate of an accepted one is no guess, a wrong
    one stays counted and, if it was the limit-th, suspends the factor."""
    if outcome == "right":
        await bounds.clear(tx, charged.person_mac, factor, limit=s.factor_failure_limit)
    elif outcome == "duplicate":
        await bounds.refund(tx, charged.person_mac, factor)
    elif charged.failures >= s.factor_failure_limit:
        await _suspend(tx, keys, lender_id=lender_id, client_id=client_id, person_mac=charged.person_mac, factor=factor)


async def count_failure(
    tx: Tx, keys: KeyStore, s: FactorSettings, *, client_id: str, person_mac: bytes, factor: str
) -> None:
    """A wrong answer on a path that did not `charge` (SMS codes): count it; suspend at the limit."""
    failures = await bounds.fail(tx, person_mac, factor)
    if failures >= s.factor_failure_limit:
        found = await bounds.person_of(tx, client_id)
        if found is not None:
            await _suspend(tx, keys, lender_id=found[0], client_id=client_id, person_mac=person_mac, factor=factor)


async def _suspend(tx: Tx, keys: KeyStore, *, lender_id: str, client_id: str, person_mac: bytes, factor: str) -> None:
    entry = await audit.aentry(
        keys, AuditEvent.FACTOR_SUSPENDED, lender_id=lender_id, subject=client_id, details={"factor": factor}
    )
    # Only the transaction that marks the suspension audits it and tells the client (exactly once).
    marked = await tx.write(
        [entry], first=bounds.SUSPEND, only_if=True, b_person=person_mac, b_factor=factor, b_now=datetime.now(UTC)
    )
    if marked is not None:
        await sms_queue.notify_factor_suspended(tx, keys, lender_id=lender_id, client_id=client_id, factor=factor)


async def reinstate(
    tx: Tx,
    keys: KeyStore,
    *,
    lender_id: str,
    client_id: str,
    factor: str,
    by: str,
    identification_id: str | None = None,
) -> bool:
    """Lift the factor's suspension and forget its failures; True when it was suspended (then told to the
    client); audited whenever failures were on record. ``by``: "lender", "identification" or "totp_reset"."""
    if factor not in FACTORS:
        raise NotFound(f"no factor {factor!r}", code=error_codes.FACTOR_UNKNOWN)
    found = await bounds.person_of(tx, client_id)
    if found is None or found[0] != lender_id:
        raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
    return await lift(
        tx,
        keys,
        lender_id=lender_id,
        client_id=client_id,
        person_mac=found[1],
        factor=factor,
        by=by,
        identification_id=identification_id,
    )


async def lift(
    tx: Tx,
    keys: KeyStore,
    *,
    lender_id: str,
    client_id: str,
    person_mac: bytes,
    factor: str,
    by: str,
    identification_id: str | None = None,
) -> bool:
    """`reinstate` for a client and factor known to exist (the person behind ``client_id``: ``person_mac``).
    Forgetting failures of a factor that was not suspended is audited too (``was_suspended`` false), or whoever
    holds a lender's key could zero the count between guesses unseen; only a lifted suspension is told by SMS."""
    before = await bounds.reinstate(tx, person_mac, factor)
    if before is None:
        return False
    was_suspended = before.suspended_at is not None
    details: dict[str, object] = {
        "factor": factor,
        "by": by,
        "failures": before.failures,
        "was_suspended": was_suspended,
    }
    if identification_id is not None:
        details["identification_id"] = identification_id
    await audit.append(tx, keys, AuditEvent.FACTOR_REINSTATED, lender_id=lender_id, subject=client_id, details=details)
    if was_suspended:
        await sms_queue.notify_factor_reinstated(tx, keys, lender_id=lender_id, client_id=client_id, factor=factor)
    return was_suspended


def reinstates(methods: Iterable[str]) -> bool:
    """Whether an identification completed with these passed ``methods`` reinstates suspended factors."""
    return bool(STRONGER & set(methods))


async def reinstate_after_identification(
    tx: Tx, keys: KeyStore, client_id: str, methods: Iterable[str], *, identification_id: str | None = None
) -> list[str]:
    """Called by the identification flow when an identification of ``client_id`` completes with the step
    ``methods`` that passed: if one is of a stronger kind (`STRONGER`), every suspended factor of the person
    is reinstated. Returns the factors reinstated (audited, told to the client), in `FACTORS` order."""
    if not reinstates(methods):
        return []
    found = await bounds.person_of(tx, client_id)
    if found is None:
        return []
    lender_id, person = found
    down = {st.factor for st in await bounds.states(tx, person) if st.suspended_at is not None}
    done = []
    for factor in FACTORS:
        if factor in down and await reinstate(
            tx,
            keys,
            lender_id=lender_id,
            client_id=client_id,
            factor=factor,
            by="identification",
            identification_id=identification_id,
        ):
            done.append(factor)
    return done


async def states(tx: Tx, client_id: str) -> list[bounds.State]:
    found = await bounds.person_of(tx, client_id)
    return [] if found is None else await bounds.states(tx, found[1])


async def suspended_methods(tx: Tx, client_id: str, *, limit: int) -> set[str]:
    """The step methods (`FACTOR_OF_METHOD`'s names) the client cannot use now because their factor is
    suspended: for the flow's ``next_methods``, so it offers only what can still make progress."""
    down = {st.factor for st in await states(tx, client_id) if st.suspended_at is not None or st.failures >= limit}
    return {method for method, factor in FACTOR_OF_METHOD.items() if factor in down}
