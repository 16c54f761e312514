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
from typing import Any, TypeVar

from authsvc import error_codes
from authsvc.config import FactorSettings
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.methods import abuse, factor_bound
from authsvc.methods.factors import Factors
from authsvc.methods.otp import CodeCheck
from authsvc.methods.otp_codes import (
    Algorithm,
    hotp,
    new_secret,
    otpauth_uri,
    resync_hotp,
    verify_hotp,
    verify_totp,
)
from authsvc.store import tokens
from authsvc.store.bounds import Charged
from authsvc.store.db import Tx
from authsvc.store.errors import Duplicate

T = TypeVar("T")
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


async def verify_totp_factor(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    lender_id: str,
    client_id: str,
    code: str,
    ip: str | None = None,
    at: float | None = None,
    confirming: bool = False,
) -> CodeCheck:
    """Check a code from the client's authenticator (±1 step around the remembered drift); with
    ``confirming`` the pending enrolment is checked and activated instead of the active one."""
    _looks_like_a_code(code)
    s = factors.settings
    gate = await abuse.before_verify(tx, keys, s, client_id=client_id, ip=ip)
    if gate:
        return CodeCheck(False, gate.wait)
    charged = await factor_bound.charge(tx, s, client_id=client_id, factor="totp")
    token = await tokens.of_client(tx, keys, lender_id, client_id, "totp", status="pending" if confirming else "active")
    now = time.time() if at is None else at
    outcome: factor_bound.Outcome = "wrong"
    if token is not None:
        params = {"digits": token.digits, "algorithm": _algorithm(token.algorithm), "period": token.period}
        match = _quietly(
            verify_totp, token.secret, code, now, drift=token.drift, last_used_step=token.last_step, **params
        )
        if match is not None:
            won = await tokens.advance_totp(tx, token.id, match.step, match.drift, activate=confirming)
            outcome = "right" if won else "duplicate"
        elif token.last_step is not None:
            # A step at or before the last used one is refused; if the code is one of those, it is a repeat
            # of an accepted code, not a guess (issue 11.7).
            seen = _quietly(verify_totp, token.secret, code, now, drift=token.drift, **params)
            if seen is not None and seen.step <= token.last_step:
                outcome = "duplicate"
    else:
        with contextlib.suppress(ValidationFailed):  # any length is "rejected" when there is no token
            verify_totp(_DUMMY_SEED, code, now)
    return await _settle(tx, keys, s, charged, lender_id, client_id, "totp", outcome, ip, gate, token)


async def _settle(
    tx: Tx,
    keys: KeyStore,
    s: FactorSettings,
    charged: Charged,
    lender_id: str,
    client_id: str,
    factor: str,
    outcome: factor_bound.Outcome,
    ip: str | None,
    gate: abuse.Gate,
    token: tokens.Token | None,
) -> CodeCheck:
    await factor_bound.settle(
        tx, keys, s, charged, lender_id=lender_id, client_id=client_id, factor=factor, outcome=outcome
    )
    if outcome == "duplicate":
        raise abuse.already_used()  # rolls back the attempt's counts: a duplicate is no try at all
    ok = outcome == "right"
    wait = await abuse.after_verify(tx, keys, s, client_id=client_id, ip=ip, ok=ok, gate=gate)
    return CodeCheck(ok, wait, token.id if token else None)


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


async def verify_hotp_factor(
    tx: Tx,
    keys: KeyStore,
    factors: Factors,
    *,
    lender_id: str,
    client_id: str,
    code: str,
    ip: str | None = None,
) -> CodeCheck:
    """Check a code from the client's hardware token within the look-ahead window."""
    _looks_like_a_code(code)
    s = factors.settings
    gate = await abuse.before_verify(tx, keys, s, client_id=client_id, ip=ip)
    if gate:
        return CodeCheck(False, gate.wait)
    charged = await factor_bound.charge(tx, s, client_id=client_id, factor="hotp")
    token = await tokens.of_client(tx, keys, lender_id, client_id, "hotp", status="active")
    outcome: factor_bound.Outcome = "wrong"
    if token is not None:
        algorithm = _algorithm(token.algorithm)
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
            outcome = "right" if await tokens.advance_hotp(tx, token.id, matched) else "duplicate"
        elif token.counter > 0 and _last_code(token, code) is not None:
            outcome = "duplicate"  # the code accepted last: a repeat, not a guess (issue 11.7)
    else:
        with contextlib.suppress(ValidationFailed):
            verify_hotp(_DUMMY_SEED, code, 0, look_ahead=s.hotp_look_ahead)
    return await _settle(tx, keys, s, charged, lender_id, client_id, "hotp", outcome, ip, gate, token)


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
