"""One-time codes by SMS: for an identification step (R-2.2, R-7.3a) and for signing a contract (R-10.1).

A code is random (`random_numeric_code`), stored only as an HMAC under a key from the key store and bound
to its context (identification + operation, or contract + document hash), lives `otp_ttl_s`, takes at
most `otp_max_attempts` tries and is accepted once (`authsvc.store.otp`). Sending goes through the SMS
outbox (`authsvc.methods.sms_queue`), so the request never waits for a gateway.

Everything here runs inside the caller's transaction. A verification returns a :class:`CodeCheck`
rather than raising, because the spent try and the throttle update must be committed even when the
answer is "no": commit, then ``check.raise_for_failure()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from authsvc import error_codes, metrics
from authsvc.audit import records as audit
from authsvc.audit.events import AuditEvent
from authsvc.cabinet.masking import mask_phone
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import AuthsvcError, RateLimited
from authsvc.methods import abuse, contact, factor_bound
from authsvc.methods.factors import Factors
from authsvc.methods.otp_codes import hash_code, normalize_code, random_numeric_code, verify_code_hash
from authsvc.store import bounds, outbox, throttle
from authsvc.store import otp as otp_store
from authsvc.store.db import Insert, Statement, Tx, Written
from authsvc.store.identifications import Identification


@dataclass(frozen=True)
class SentCode:
    code_id: str
    outbox_id: str
    expires_at: datetime
    resend_after: datetime
    phone: str  # masked: +7701*****78


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    retry_after: int = 0  # seconds before the next try is looked at (after wrong answers)
    code_id: str | None = None

    def raise_for_failure(self) -> None:
        if not self.ok:
            raise abuse.rejected(self.retry_after)


identification_binding = otp_store.identification_binding

# What /metrics calls a verification that raised instead of answering a CodeCheck.
_RAISED = {
    error_codes.OTP_ALREADY_USED: "duplicate",
    error_codes.OTP_VERIFY_LIMITED: "limited",
    error_codes.FACTOR_SUSPENDED: "suspended",
    error_codes.OTP_MALFORMED: "malformed",
}


def count_issued(channel: str, purpose: str) -> None:
    """A code committed to the outbox (``purpose``: identification or contract)."""
    metrics.OTP_ISSUED.labels(channel, purpose).inc()


def count_verification(factor: str, check: CodeCheck | None, error: BaseException | None = None) -> None:
    """A verification that ended (its transaction committed or rolled back): accepted, rejected, or why not checked."""
    if check is not None:
        outcome = "accepted" if check.ok else "rejected"
    elif isinstance(error, AuthsvcError):
        outcome = _RAISED.get(error.code, "error")
    else:
        outcome = "error"
    metrics.OTP_VERIFICATIONS.labels(factor, outcome).inc()


def contract_binding(contract_id: str, document_sha256: str) -> str:
    return f"contract:{contract_id}:{document_sha256.lower()}"


def _context(binding: str, code_id: str) -> str:
    return f"{binding}:{code_id}"


async def issue_code(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    lender_id: str,
    client_id: str,
    binding: str,
    text: str,
    ip: str | None = None,
    kind: str = "otp",
    channel: Literal["sms", "voice"] = "sms",
) -> SentCode:
    """Create a code for ``binding`` and queue it to the client's registered phone: by SMS, or read
    out by a verification call (R-NB.4) with ``channel="voice"``.

    ``text`` is an SMS template with ``{code}`` in it (a call reads the digits only). Raises RateLimited (``otp_resend_too_soon`` inside
    the cooldown, ``otp_send_limited`` over a sending cap) and NotFound for an unknown client.
    """
    s = factors.settings
    now = datetime.now(UTC)
    person = await contact.load(tx, keys, lender_id, client_id)
    previous = await otp_store.latest(tx, binding)
    if previous is not None:
        ready = previous.created_at + timedelta(seconds=s.otp_resend_cooldown_s)
        if ready > now:
            raise RateLimited(
                "a code was just sent; wait before asking for another",
                retry_after=max(1, int((ready - now).total_seconds() + 0.999)),
                code=error_codes.OTP_RESEND_TOO_SOON,
            )
    await abuse.count_send(tx, keys, s, lender_id=lender_id, client_id=client_id, phone=person.phone, ip=ip)
    code = random_numeric_code(s.otp_digits)
    code_id = str(uuid.uuid4())
    expires = now + timedelta(seconds=s.otp_ttl_s)
    await otp_store.insert(
        tx,
        otp_store.CodeRow(
            id=code_id,
            lender_id=lender_id,
            client_id=client_id,
            binding=binding,
            code_mac=hash_code(factors.code_key, code, context=_context(binding, code_id)),
            channel=channel,
            created_at=now,
            expires_at=expires,
            attempts=0,
            max_attempts=s.otp_max_attempts,
            used_at=None,
        ),
    )
    if channel == "voice":
        queued = await outbox.enqueue(tx, keys, outbox.VOICE_CODE, person.phone, code, not_after=expires)
    else:
        queued = await outbox.enqueue(tx, keys, kind, person.phone, text.format(code=code), not_after=expires)
    return SentCode(
        code_id, queued, expires, now + timedelta(seconds=s.otp_resend_cooldown_s), mask_phone(person.phone)
    )


async def send_identification_code(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    ident: Identification,
    *,
    text: str,
    ip: str | None,
    channel: Literal["sms", "voice"],
) -> SentCode:
    """A code for an identification's step, sent to the client's registered phone, with its audit entry."""
    sent = await issue_code(
        tx,
        keys,
        factors,
        lender_id=ident.lender_id,
        client_id=ident.client_id,
        binding=identification_binding(ident.id, ident.operation.value),
        text=text,
        ip=ip,
        channel=channel,
    )
    await audit.append(
        tx,
        keys,
        AuditEvent.OTP_SENT,
        lender_id=ident.lender_id,
        subject=ident.id,
        details={"channel": channel, "outbox_id": sent.outbox_id},
    )
    return sent


Records = Callable[[bool], Awaitable[Sequence[Written]]]  # outcome -> the rows that record it (step, audit entry…)


async def no_records(_ok: bool) -> Sequence[Insert]:
    return ()


@dataclass(frozen=True)
class Seen:
    """What a verification reads before it checks the answer: the newest code, the throttles, the person's bound."""

    live: otp_store.Attempt | None  # the binding's newest code (``live`` says whether it can still be used)
    counters: throttle.Peek
    bound: bounds.Bound | None = None
    at: abuse.Address | None = None  # the address as the read keyed it (its MACs computed once per request)
    steps_taken: int | None = None  # the identification's steps when read (0: the step is judged alone)


async def read_identification(
    tx: Tx, keys: KeyStore, *, lender_id: str, ident_id: str, ip: str | None
) -> tuple[Identification | None, Seen]:
    """An identification with everything the verification of its code reads, in one round trip."""
    at = await abuse.Address.of(keys, ip)
    ident, live, counters, bound, taken = await otp_store.identification_with_code(
        tx, lender_id, ident_id, ip_scope=at.scope, ip_mac=at.mac, window_start=at.window_start
    )
    return ident, Seen(live, counters, bound, at, taken)


SMS_FACTOR = "sms"  # SMS and voice codes reach the same phone: one factor for the per-account bound


async def verify_code(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    client_id: str,
    binding: str,
    code: str,
    ip: str | None = None,
    records: Records = no_records,
    seen: Seen | None = None,
) -> CodeCheck:
    """Check ``code`` against the live code of ``binding``, in constant time, spending one try, and write
    ``records(outcome)`` in the same statement as the code's use (or spent try) and the attempt's count
    against the address's cap: a code is never accepted without its record, and a record never claims a
    use that another verification won.

    Raises ValidationFailed(otp_malformed) for something that is not a code at all, RateLimited over
    the per-IP cap, Conflict(factor_suspended) when the person's SMS factor reached the per-account bound,
    Conflict(otp_already_used) for a right code that was accepted already (a duplicate submission: no
    failure is counted anywhere, issue 11.7); otherwise answers a CodeCheck (commit before acting on a
    failure). ``seen``: what `read_identification` read along with the identification, else read here. On
    PostgreSQL's fast path a right code thus costs two round trips: the read and the write.
    """
    s = factors.settings
    code = normalize_code(code, s.otp_digits)
    now = datetime.now(UTC)
    # The address the read keyed, so the attempt counts in the window whose counters were read.
    at = seen.at if seen is not None and seen.at is not None and seen.at.ip == ip else await abuse.Address.of(keys, ip)
    if seen is None:
        failure_scope = throttle.failure_scope(client_id, at.mac)
        scopes = at.scopes(client_id=client_id)
        counters = await throttle.peek_at(tx, scopes, failure_scope, window_start=at.window_start)
        seen = Seen(await otp_store.newest(tx, binding), counters, await bounds.bound_of(tx, client_id, SMS_FACTOR))
    gate = abuse.gate(s, at, seen.counters)
    count = [abuse.COUNT_ATTEMPT]
    counted = at.count(client_id=client_id)
    live = seen.live
    bound = seen.bound
    if bound is not None and bound.failures >= s.factor_failure_limit:
        await tx.run(abuse.COUNT_ATTEMPT, **counted)
        raise factor_bound.suspended(SMS_FACTOR)
    if gate:
        await tx.write(await records(False), also=count, **counted)
        return CodeCheck(False, gate.wait)
    if live is None:
        # Spend the same hashing time when there is nothing to check, so timing does not tell.
        verify_code_hash(factors.code_key, code, "0" * 64, context=binding, digits=s.otp_digits)
        match = False
    else:
        context = _context(binding, live.code_id)
        match = live.client_id == client_id and verify_code_hash(
            factors.code_key, code, live.code_mac, context=context, digits=s.otp_digits
        )
    code_id = live.code_id if live is not None else None
    ok = False
    if match and live is not None and live.live:
        # Of two verifications racing with the right code, only one gets the code back from USE; the other
        # is a duplicate, not a guess. A right answer forgives the person's earlier failures (in the same
        # statement, only when there are some, so a clean record costs nothing).
        forgive: list[Statement] = []
        extra: dict[str, Any] = {}
        if bound is not None and bound.failures > 0:
            forgive = [bounds.CLEAR]
            extra = {
                "b_person": bound.person_mac,
                "b_factor": SMS_FACTOR,
                "limit": s.factor_failure_limit,
                "b_now": now,
            }
        used = await tx.write(
            await records(True),
            first=otp_store.USE,
            only_if=True,
            also=[*count, *forgive],
            code_id=code_id,
            now=now,
            **counted,
            **extra,
        )
        if used is None:
            raise abuse.already_used()
        ok = True
    elif match and live is not None and live.used:
        await tx.run(abuse.COUNT_ATTEMPT, **counted)
        raise abuse.already_used()
    if not ok:
        if live is None or not live.live:
            await tx.write(await records(False), also=count, **counted)
        else:
            await tx.write(await records(False), first=otp_store.SPEND, also=count, code_id=code_id, now=now, **counted)
        if bound is not None and not match:
            await factor_bound.count_failure(
                tx, keys, s, client_id=client_id, person_mac=bound.person_mac, factor=SMS_FACTOR
            )
    wait = await abuse.after_verify(tx, keys, s, client_id=client_id, ip=ip, ok=ok, gate=gate)
    return CodeCheck(ok, wait, code_id)


# --- contract signing with a one-time code (R-10.1) -------------------------------------------------------


async def issue_contract_code(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    lender_id: str,
    client_id: str,
    contract_id: str,
    document_sha256: str,
    ip: str | None = None,
) -> SentCode:
    """Send the client a code that signs exactly this document (its SHA-256, hex) of ``contract_id``.

    Call inside a transaction, commit, then (optionally) ``factors.outbox_bell.set()`` to send at once.
    """
    text = f"Код подписания договора {contract_id[:8]} (документ {document_sha256[:8]}): {{code}}. Никому не сообщайте."
    return await issue_code(
        tx,
        keys,
        factors,
        lender_id=lender_id,
        client_id=client_id,
        binding=contract_binding(contract_id, document_sha256),
        text=text,
        ip=ip,
        kind="contract_otp",
    )


async def verify_contract_code(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    client_id: str,
    contract_id: str,
    document_sha256: str,
    code: str,
    ip: str | None = None,
) -> CodeCheck:
    """Whether ``code`` signs ``document_sha256`` of ``contract_id``: a code sent for another document
    hash (the contract changed after sending) never matches. Commit, then ``raise_for_failure()``."""
    return await verify_code(
        tx,
        keys,
        factors,
        client_id=client_id,
        binding=contract_binding(contract_id, document_sha256),
        code=code,
        ip=ip,
    )
