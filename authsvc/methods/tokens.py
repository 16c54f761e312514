"""TOTP authenticator apps (RFC 6238) and HOTP hardware tokens (RFC 4226) as second factors.

Seeds are sealed with the envelope cipher (`authsvc.store.tokens`). A TOTP enrolment shows its
otpauth:// URI once and becomes active when the client proves the app with a first code; a hardware
token is imported by serial and seed, then assigned to a client. Every acceptance moves the stored
step or counter forward with a conditional UPDATE, so a code is good once across processes; wrong
answers go through the same abuse limits as SMS codes (`authsvc.methods.abuse`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from authsvc import error_codes
from authsvc.config import FactorSettings
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.methods import abuse, factor_bound
from authsvc.methods.factors import Factors
from authsvc.methods.otp import CodeCheck, Records, no_records
from authsvc.methods.otp_codes import (
    Algorithm,
    hotp,
    new_secret,
    otpauth_uri,
    resync_hotp,
    verify_hotp,
    verify_totp,
)
from authsvc.store import bounds, throttle, tokens
from authsvc.store.db import Statement, Tx
from authsvc.store.errors import Duplicate
from authsvc.store.identifications import Identification

T = TypeVar("T")
TokenKind = Literal["totp", "hotp"]
RESYNC_WINDOW = 1000
_DUMMY_SEED = bytes(
    20
)  # checked against when the client has no token, so timing does not tell  # counters searched by a two-code resync (RFC 4226 §7.4 leaves it to the server)


@dataclass(frozen=True)
class Enrolment:
    token_id: str
    uri: str


async def enrol_totp(tx: Tx, keys: KeyStore, factors: Factors, *, lender_id: str, client_id: str) -> Enrolment:
    """A fresh TOTP secret for the client (pending until confirmed); the URI is never shown again.
    Raises Conflict(totp_already_enrolled) when an active one exists."""
    if await tokens.of_client(tx, keys, lender_id, client_id, "totp", status="active") is not None:
        raise Conflict("the client already has an active authenticator", code=error_codes.TOTP_ALREADY_ENROLLED)
    await tokens.drop_pending(tx, lender_id, client_id, "totp")
    secret = new_secret()
    token_id = await tokens.create(tx, keys, lender_id=lender_id, client_id=client_id, kind="totp", secret=secret)
    # The account label is the token id: an otpauth URI leaves the service, so no IIN or phone in it.
    uri = otpauth_uri(secret, account=token_id[:8], issuer=factors.settings.totp_issuer)
    return Enrolment(token_id, uri)


@dataclass(frozen=True)
class SeenToken:
    """What a token verification reads before it checks the code: the token (None: the client has none of the
    kind asked), the abuse counters and the person's bound."""

    token: tokens.Token | None
    counters: throttle.Peek
    bound: bounds.Bound | None
    at: abuse.Address | None = None  # the address as the read keyed it (its MACs computed once per request)
    steps_taken: int | None = None  # the identification's steps when read (0: the step is judged alone)


async def read_identification(
    tx: Tx, keys: KeyStore, *, lender_id: str, ident_id: str, kind: str, ip: str | None
) -> tuple[Identification | None, SeenToken]:
    """An identification with what the verification of its client's ``kind`` token reads, in one round trip."""
    at = await abuse.Address.of(keys, ip)
    ident, token, counters, bound, taken = await tokens.identification_with_token(
        tx, keys, lender_id, ident_id, kind, ip_scope=at.scope, ip_mac=at.mac, window_start=at.window_start
    )
    return ident, SeenToken(token, counters, bound, at, taken)


async def verify_token(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    kind: TokenKind,
    lender_id: str,
    client_id: str,
    code: str,
    ip: str | None = None,
    records: Records = no_records,
    seen: SeenToken | None = None,
    confirming: bool = False,
    at: float | None = None,
) -> CodeCheck:
    """Check a code from the client's ``kind`` token: an authenticator app (TOTP, ±1 step around the remembered
    drift; with ``confirming`` the pending enrolment is checked and activated instead of the active one, ``at``
    the time to check at) or a hardware token (HOTP, within the look-ahead window).

    One token verification, on the SMS code's fast path (`authsvc.methods.otp.verify_code`): what it reads
    (``seen``, else read here), the code checked in this process, then ONE statement that writes the outcome with
    ``records(outcome)`` and the attempt's count — a right code moves the token's counter or step by
    compare-and-set (only while the person's factor is below its bound) and forgives the person's failures; a
    wrong one is charged to the person's bound atomically (refused at the limit), so however many guesses
    race, at most ``factor_failure_limit`` wrong answers are ever told. A right code costs two round trips on a
    plain connection: the read and the write.

    Raises ValidationFailed(otp_malformed) for what is no code, RateLimited over a cap, Conflict(factor_suspended)
    at the bound, Conflict(otp_already_used) for a repeat of an accepted code or a twin that lost the race
    (counted nowhere, issue 11.7); otherwise answers a CodeCheck (act on a failure after the write)."""
    _looks_like_a_code(code)
    s = factors.settings
    address = (
        seen.at if seen is not None and seen.at is not None and seen.at.ip == ip else await abuse.Address.of(keys, ip)
    )
    if seen is None:
        status = "pending" if confirming else "active"
        token = await tokens.of_client(tx, keys, lender_id, client_id, kind, status=status)
        failure_scope = throttle.failure_scope(client_id, address.mac)
        scopes = address.scopes(client_id=client_id)
        counters = await throttle.peek_at(tx, scopes, failure_scope, window_start=address.window_start)
        seen = SeenToken(token, counters, await bounds.bound_of(tx, client_id, kind))
    limit, bound, token = s.factor_failure_limit, seen.bound, seen.token
    count, counted = [abuse.COUNT_ATTEMPT], address.count(client_id=client_id)
    if bound is None:
        raise NotFound("no such client", code=error_codes.CLIENT_NOT_FOUND)
    if bound.failures >= limit:
        raise factor_bound.suspended(kind)  # refused unchecked: no attempt on the client's caps either
    gate = abuse.gate(s, address, seen.counters)
    if gate:
        await tx.write(await records(False), also=count, **counted)
        return CodeCheck(False, gate.wait)
    outcome, guard, params = _match(token, code, s, time.time() if at is None else at, confirming)
    person: dict[str, Any] = {
        "b_person": bound.person_mac,
        "b_factor": kind,
        "limit": limit,
        "b_now": datetime.now(UTC),
    }
    if outcome == "duplicate":
        raise abuse.already_used()  # a repeat of the code accepted last: no guess, no try
    if outcome == "right" and guard is not None:
        forgive = [bounds.CLEAR] if bound.failures > 0 else []  # a clean record costs no row lock
        used = await tx.write(
            await records(True), first=guard, only_if=True, also=[*count, *forgive], **params, **counted, **person
        )
        if used is None:  # its twin won the race, or guesses reached the bound meanwhile: no attempt after all
            await tx.run(abuse.UNCOUNT_ATTEMPT, **counted)
            if (await bounds.bound_of(tx, client_id, kind) or bound).failures >= limit:
                raise factor_bound.suspended(kind)
            raise abuse.already_used()
        wait = await abuse.after_verify(tx, keys, s, client_id=client_id, ip=ip, ok=True, gate=gate)
        return CodeCheck(True, wait, token.id if token else None)
    charged = await tx.write(
        await records(False), first=bounds.CHARGE, only_if=True, also=count, **counted, **person, client_id=client_id
    )
    if charged is None:  # other guesses reached the bound first: this one is not told, nor counted
        await tx.run(abuse.UNCOUNT_ATTEMPT, **counted)
        raise factor_bound.suspended(kind)
    await factor_bound.settle(
        tx,
        keys,
        s,
        bounds.Charged(bytes(charged["person_mac"]), charged["failures"]),
        lender_id=lender_id,
        client_id=client_id,
        factor=kind,
        outcome="wrong",
    )
    wait = await abuse.after_verify(tx, keys, s, client_id=client_id, ip=ip, ok=False, gate=gate)
    return CodeCheck(False, wait, token.id if token else None)


def _match(
    token: tokens.Token | None, code: str, s: FactorSettings, now: float, confirming: bool
) -> tuple[factor_bound.Outcome, Statement | None, dict[str, Any]]:
    """Whether ``code`` is the token's: right (with the compare-and-set that accepts it and its parameters),
    a duplicate of the code accepted last, or wrong. Checked in constant time against a dummy seed when there
    is no token, so the timing does not tell."""
    if token is None:
        with contextlib.suppress(ValidationFailed):  # any length is "rejected" when there is no token
            verify_hotp(_DUMMY_SEED, code, 0, look_ahead=s.hotp_look_ahead)
        return "wrong", None, {}
    algorithm = _algorithm(token.algorithm)
    if token.kind == "hotp":
        matched = _quietly(
            verify_hotp,
            token.secret,
            code,
            token.counter,
            look_ahead=s.hotp_look_ahead,
            digits=token.digits,
            algorithm=algorithm,
        )
        if matched is not None:
            return "right", tokens.ACCEPT_HOTP, {"token_id": token.id, "matched": matched, "now": datetime.now(UTC)}
        if token.counter > 0 and _last_code(token, code) is not None:
            return "duplicate", None, {}  # the code accepted last: a repeat, not a guess (issue 11.7)
        return "wrong", None, {}
    params = {"digits": token.digits, "algorithm": algorithm, "period": token.period}
    match = _quietly(verify_totp, token.secret, code, now, drift=token.drift, last_used_step=token.last_step, **params)
    if match is not None:
        guard = tokens.ACTIVATE_TOTP if confirming else tokens.ACCEPT_TOTP
        return (
            "right",
            guard,
            {"token_id": token.id, "step": match.step, "drift": match.drift, "now": datetime.now(UTC)},
        )
    if token.last_step is not None:
        # A step at or before the last used one is refused; if the code is one of those, it is a repeat of an
        # accepted code, not a guess (issue 11.7).
        again = _quietly(verify_totp, token.secret, code, now, drift=token.drift, **params)
        if again is not None and again.step <= token.last_step:
            return "duplicate", None, {}
    return "wrong", None, {}


def _looks_like_a_code(code: str) -> None:
    """Garbage is a named failure whatever the client holds; a code of the wrong length for the
    client's token is only "rejected" (checked in `_quietly`), so the answer does not reveal tokens."""
    cleaned = code.replace(" ", "").replace("-", "")
    if not (cleaned.isascii() and cleaned.isdigit() and 6 <= len(cleaned) <= 8):
        raise ValidationFailed("a one-time code is 6 to 8 digits", code=error_codes.OTP_MALFORMED)


def _quietly(check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    try:
        return check(*args, **kwargs)
    except ValidationFailed:
        return None


def _algorithm(name: str) -> Algorithm:
    if name == "SHA256":
        return "SHA256"
    if name == "SHA512":
        return "SHA512"
    return "SHA1"


async def import_hotp(
    tx: Tx,
    keys: KeyStore,
    *,
    lender_id: str,
    serial: str,
    seed: bytes,
    digits: int = 6,
    algorithm: Algorithm = "SHA1",
    counter: int = 0,
) -> str:
    """Register a hardware token from the vendor's seed file (unassigned); returns its id.
    Raises Conflict(token_exists) for a serial the lender already has."""
    hotp(seed, counter, digits=digits, algorithm=algorithm)  # validates seed length, digits, algorithm
    try:
        async with tx.savepoint():
            return await tokens.create(
                tx,
                keys,
                lender_id=lender_id,
                client_id=None,
                kind="hotp",
                secret=seed,
                serial=serial,
                status="unassigned",
                algorithm=algorithm,
                digits=digits,
                counter=counter,
            )
    except Duplicate as exc:
        raise Conflict("a token with this serial was imported already", code=error_codes.TOKEN_EXISTS) from exc


async def _token(tx: Tx, keys: KeyStore, lender_id: str, serial: str) -> tokens.Token:
    token = await tokens.by_serial(tx, keys, lender_id, serial)
    if token is None or token.serial is None:  # a hardware token: HOTP, or TOTP from a PSKC file
        raise NotFound("no such token", code=error_codes.TOKEN_NOT_FOUND)
    return token


async def assign_hotp(tx: Tx, keys: KeyStore, *, lender_id: str, serial: str, client_id: str) -> str:
    token = await _token(tx, keys, lender_id, serial)
    if not await tokens.assign(tx, token.id, client_id):
        raise Conflict("the token belongs to a client already", code=error_codes.TOKEN_ASSIGNED)
    return token.id


def _last_code(token: tokens.Token, code: str) -> int | None:
    """The counter accepted last, if ``code`` is its code."""
    last = token.counter - 1
    return _quietly(
        verify_hotp, token.secret, code, last, look_ahead=0, digits=token.digits, algorithm=_algorithm(token.algorithm)
    )


async def resync_hotp_token(tx: Tx, keys: KeyStore, *, lender_id: str, serial: str, first: str, second: str) -> bool:
    """Bring a token that drifted past the look-ahead back in step from two consecutive codes."""
    token = await _token(tx, keys, lender_id, serial)
    if token.kind != "hotp":
        raise NotFound("no such HOTP token", code=error_codes.TOKEN_NOT_FOUND)
    next_counter = resync_hotp(
        token.secret,
        first,
        second,
        token.counter,
        window=RESYNC_WINDOW,
        digits=token.digits,
        algorithm=_algorithm(token.algorithm),
    )
    if next_counter is None:
        return False
    return await tokens.advance_hotp(tx, token.id, next_counter - 1)
