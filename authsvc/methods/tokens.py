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
from authsvc.crypto.keystore import KeyStore
from authsvc.errors import Conflict, NotFound, ValidationFailed
from authsvc.methods import abuse
from authsvc.methods.factors import Factors
from authsvc.methods.otp import LOCAL_IP, CodeCheck
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
    addr = ip or LOCAL_IP
    s = factors.settings
    gate = await abuse.before_verify(tx, keys, s, client_id=client_id, ip=addr)
    if gate:
        return CodeCheck(False, gate.wait)
    token = await tokens.of_client(tx, keys, lender_id, client_id, "totp", status="pending" if confirming else "active")
    ok = False
    if token is not None:
        match = _quietly(
            verify_totp,
            token.secret,
            code,
            time.time() if at is None else at,
            drift=token.drift,
            last_used_step=token.last_step,
            digits=token.digits,
            algorithm=_algorithm(token.algorithm),
            period=token.period,
        )
        if match is not None:
            ok = await tokens.advance_totp(tx, token.id, match.step, match.drift, activate=confirming)
    else:
        with contextlib.suppress(ValidationFailed):  # any length is "rejected" when there is no token
            verify_totp(_DUMMY_SEED, code, time.time() if at is None else at)
    wait = await abuse.after_verify(tx, keys, s, client_id=client_id, ip=addr, ok=ok, gate=gate)
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
    if token is None or token.kind != "hotp":
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
    addr = ip or LOCAL_IP
    s = factors.settings
    gate = await abuse.before_verify(tx, keys, s, client_id=client_id, ip=addr)
    if gate:
        return CodeCheck(False, gate.wait)
    token = await tokens.of_client(tx, keys, lender_id, client_id, "hotp", status="active")
    ok = False
    if token is not None:
        matched = _quietly(
            verify_hotp,
            token.secret,
            code,
            token.counter,
            look_ahead=s.hotp_look_ahead,
            digits=token.digits,
            algorithm=_algorithm(token.algorithm),
        )
        if matched is not None:
            ok = await tokens.advance_hotp(tx, token.id, matched)
    else:
        with contextlib.suppress(ValidationFailed):
            verify_hotp(_DUMMY_SEED, code, 0, look_ahead=s.hotp_look_ahead)
    wait = await abuse.after_verify(tx, keys, s, client_id=client_id, ip=addr, ok=ok, gate=gate)
    return CodeCheck(ok, wait, token.id if token else None)


async def resync_hotp_token(tx: Tx, keys: KeyStore, *, lender_id: str, serial: str, first: str, second: str) -> bool:
    """Bring a token that drifted past the look-ahead back in step from two consecutive codes."""
    token = await _token(tx, keys, lender_id, serial)
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
