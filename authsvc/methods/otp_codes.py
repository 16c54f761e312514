"""One-time password arithmetic: HOTP (RFC 4226), TOTP (RFC 6238), SMS codes and their storage hashes.

One-time passwords are the "authentication token" criterion of two-factor authentication (R-2.2,
R-7.3a), a way to log in later (R-6.5), to conclude a contract (R-10.1) and to confirm a payment
(R-NB.3, R-23.2). This module is pure: no storage, no clock of its own (the caller passes the time),
so the caller can keep counters, drift and "last used step" atomically in its store.

Every comparison of a submitted code goes through :func:`hmac.compare_digest`, and a verification
checks every candidate in its window before answering, so timing tells nothing about which step
matched (the LinOTP mistake DESIGN.md warns about).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import struct
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode

from authsvc import error_codes
from authsvc.errors import ValidationFailed

Algorithm = Literal["SHA1", "SHA256", "SHA512"]

# OpenSSL's names: `hmac.new` with a name takes OpenSSL's HMAC directly (a hashlib function costs a Python
# HMAC object, ≈ 2× the time).
_DIGESTS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
# RFC 4226 §4 R6: the shared secret is at least 128 bits; 160 recommended.
MIN_KEY_BYTES = 16
_ALLOWED_DIGITS = (6, 7, 8)
_MAX_COUNTER = 2**64 - 1
_COUNTER = struct.Struct(">Q")
_WORD = struct.Struct(">I")


@dataclass(frozen=True)
class TotpMatch:
    """A TOTP code that matched: the time step it belonged to, and the drift to remember.

    ``drift`` is ``step - current step`` in steps; store it with ``step`` (as the last used step, to
    refuse replays) and pass both to the next :func:`verify_totp`.
    """

    step: int
    drift: int


def _check_params(key: bytes, digits: int, algorithm: str) -> None:
    if algorithm not in _DIGESTS:
        raise ValidationFailed(f"unsupported OTP algorithm {algorithm!r}", code=error_codes.OTP_BAD_ALGORITHM)
    if digits not in _ALLOWED_DIGITS:
        raise ValidationFailed(f"OTP length must be 6, 7 or 8 digits, not {digits}", code=error_codes.OTP_BAD_DIGITS)
    if len(key) < MIN_KEY_BYTES:
        raise ValidationFailed(
            f"OTP secret is {len(key)} bytes; RFC 4226 requires at least {MIN_KEY_BYTES}",
            code=error_codes.OTP_KEY_TOO_SHORT,
        )


def hotp(key: bytes, counter: int, *, digits: int = 6, algorithm: Algorithm = "SHA1") -> str:
    """The HOTP value of ``counter`` (RFC 4226 §5.3): HMAC, dynamic truncation, modulo 10^digits."""
    _check_params(key, digits, algorithm)
    if not 0 <= counter <= _MAX_COUNTER:
        raise ValidationFailed("HOTP counter out of range", code=error_codes.OTP_BAD_COUNTER)
    return _value(hmac.new(key, digestmod=_DIGESTS[algorithm]), counter, digits)


def _value(keyed: hmac.HMAC, counter: int, digits: int) -> str:
    """The HOTP value of ``counter`` from an HMAC state keyed once (copied per counter: a window's candidates
    share the key set-up)."""
    mac_state = keyed.copy()
    mac_state.update(_COUNTER.pack(counter))
    mac = mac_state.digest()
    offset = mac[-1] & 0x0F
    binary = _WORD.unpack_from(mac, offset)[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def totp_step(at: float, *, period: int = 30, t0: int = 0) -> int:
    """The time step ``T = floor((at - T0) / X)`` of RFC 6238 §4.2 for a Unix time ``at``."""
    if period <= 0:
        raise ValidationFailed("TOTP period must be positive", code=error_codes.OTP_BAD_PERIOD)
    return int((at - t0) // period)


def totp(
    key: bytes, at: float, *, digits: int = 6, algorithm: Algorithm = "SHA1", period: int = 30, t0: int = 0
) -> str:
    """The TOTP value at Unix time ``at`` (RFC 6238)."""
    return hotp(key, totp_step(at, period=period, t0=t0), digits=digits, algorithm=algorithm)


def normalize_code(code: str, digits: int) -> str:
    """Strip the spaces and dashes people type ("123 456"); refuse anything but ``digits`` digits.

    Raises ValidationFailed(code=error_codes.OTP_MALFORMED) so a caller can tell "typed garbage" from "wrong code".
    """
    cleaned = code.replace(" ", "").replace("-", "")
    if len(cleaned) != digits or not (cleaned.isascii() and cleaned.isdigit()):
        raise ValidationFailed(f"a one-time code is {digits} digits", code=error_codes.OTP_MALFORMED)
    return cleaned


def _first_match(key: bytes, code: str, counters: range, digits: int, algorithm: Algorithm) -> int | None:
    # Check every candidate (no early exit) so the time taken does not reveal the position. The key is checked
    # and set up once for the window, not once per candidate.
    if not counters:
        return None
    _check_params(key, digits, algorithm)
    keyed = hmac.new(key, digestmod=_DIGESTS[algorithm])
    found: int | None = None
    submitted = code.encode()
    for counter in counters:
        if not 0 <= counter <= _MAX_COUNTER:
            continue
        candidate = _value(keyed, counter, digits).encode()
        if hmac.compare_digest(candidate, submitted) and found is None:
            found = counter
    return found


def verify_hotp(
    key: bytes,
    code: str,
    counter: int,
    *,
    look_ahead: int = 10,
    digits: int = 6,
    algorithm: Algorithm = "SHA1",
) -> int | None:
    """Check an HOTP code against counters ``counter .. counter + look_ahead`` (RFC 4226 §7.4).

    ``counter`` is the next unused counter. Returns the counter that matched (store ``matched + 1``
    as the next counter, atomically) or None. A code for a counter below ``counter`` never matches,
    which refuses replays.
    """
    if look_ahead < 0:
        raise ValidationFailed("HOTP look-ahead must not be negative", code=error_codes.OTP_BAD_WINDOW)
    code = normalize_code(code, digits)
    return _first_match(key, code, range(counter, counter + look_ahead + 1), digits, algorithm)


def resync_hotp(
    key: bytes,
    first: str,
    second: str,
    counter: int,
    *,
    window: int = 100,
    digits: int = 6,
    algorithm: Algorithm = "SHA1",
) -> int | None:
    """Resynchronise a token that drifted past the look-ahead, from two consecutive codes (RFC 4226 §7.4).

    Searches ``counter .. counter + window`` for c with hotp(c) == first and hotp(c+1) == second.
    Returns the new next counter (c + 2) or None.
    """
    first = normalize_code(first, digits)
    second = normalize_code(second, digits)
    found: int | None = None
    for c in range(counter, counter + window + 1):
        one = hmac.compare_digest(hotp(key, c, digits=digits, algorithm=algorithm).encode(), first.encode())
        if one and c + 1 <= _MAX_COUNTER:
            two = hmac.compare_digest(hotp(key, c + 1, digits=digits, algorithm=algorithm).encode(), second.encode())
            if two and found is None:
                found = c + 2
    return found


def verify_totp(
    key: bytes,
    code: str,
    at: float,
    *,
    drift: int = 0,
    window: int = 1,
    last_used_step: int | None = None,
    max_drift: int = 10,
    digits: int = 6,
    algorithm: Algorithm = "SHA1",
    period: int = 30,
    t0: int = 0,
) -> TotpMatch | None:
    """Check a TOTP code at time ``at`` within ±``window`` steps around the remembered ``drift``.

    RFC 6238 §5.2 allows one step of network delay either way; the remembered drift follows a device
    clock that runs fast or slow, bounded by ``max_drift`` steps. A step at or before
    ``last_used_step`` never matches: a code is good once (RFC 6238 §5.2, R-12.3).
    """
    if window < 0 or max_drift < 0:
        raise ValidationFailed("TOTP window must not be negative", code=error_codes.OTP_BAD_WINDOW)
    code = normalize_code(code, digits)
    now = totp_step(at, period=period, t0=t0)
    centre = now + max(-max_drift, min(max_drift, drift))
    lowest = centre - window
    if last_used_step is not None:
        lowest = max(lowest, last_used_step + 1)
    step = _first_match(key, code, range(lowest, centre + window + 1), digits, algorithm)
    if step is None:
        return None
    return TotpMatch(step=step, drift=step - now)


def resync_totp(
    key: bytes,
    first: str,
    second: str,
    at: float,
    *,
    max_drift: int = 10,
    digits: int = 6,
    algorithm: Algorithm = "SHA1",
    period: int = 30,
    t0: int = 0,
) -> TotpMatch | None:
    """Find a device's clock drift from two codes shown one after the other (consecutive steps).

    Searches steps within ±``max_drift`` of now. Returns the match of the *second* code (its step is
    the last used step, its drift the one to remember) or None.
    """
    first = normalize_code(first, digits)
    second = normalize_code(second, digits)
    now = totp_step(at, period=period, t0=t0)
    found: TotpMatch | None = None
    for s in range(now - max_drift, now + max_drift):
        a = hmac.compare_digest(hotp(key, s, digits=digits, algorithm=algorithm).encode(), first.encode())
        b = hmac.compare_digest(hotp(key, s + 1, digits=digits, algorithm=algorithm).encode(), second.encode())
        if a and b and found is None:
            found = TotpMatch(step=s + 1, drift=s + 1 - now)
    return found


def new_secret(nbytes: int = 20) -> bytes:
    """A fresh random OTP secret; 20 bytes (160 bits) is RFC 4226's recommendation for SHA-1."""
    if nbytes < MIN_KEY_BYTES:
        raise ValidationFailed(f"OTP secret must be at least {MIN_KEY_BYTES} bytes", code=error_codes.OTP_KEY_TOO_SHORT)
    return secrets.token_bytes(nbytes)


def base32_secret(key: bytes) -> str:
    """The unpadded base32 text form authenticator apps expect in an otpauth:// URI."""
    return base64.b32encode(key).decode("ascii").rstrip("=")


def parse_base32_secret(text: str) -> bytes:
    """Decode a base32 secret as people type it (any case, spaces, no padding)."""
    cleaned = text.replace(" ", "").upper()
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (ValueError, binascii.Error) as exc:
        raise ValidationFailed("OTP secret is not valid base32", code=error_codes.OTP_BAD_SECRET) from exc


def otpauth_uri(
    key: bytes,
    *,
    account: str,
    issuer: str,
    kind: Literal["totp", "hotp"] = "totp",
    algorithm: Algorithm = "SHA1",
    digits: int = 6,
    period: int = 30,
    counter: int = 0,
) -> str:
    """The ``otpauth://`` enrolment URI (Google Authenticator Key Uri Format), shown as a QR code.

    The label is ``issuer:account``; ``issuer`` is repeated as a parameter, as the format advises.
    Put no IIN or phone number in ``account``: the QR code leaves the service.
    """
    _check_params(key, digits, algorithm)
    if not account or not issuer or ":" in issuer or ":" in account:
        raise ValidationFailed("OTP account and issuer must be non-empty, without ':'", code=error_codes.OTP_BAD_LABEL)
    label = quote(f"{issuer}:{account}", safe=":@")
    params: dict[str, str | int] = {
        "secret": base32_secret(key),
        "issuer": issuer,
        "algorithm": algorithm,
        "digits": digits,
    }
    if kind == "totp":
        params["period"] = period
    else:
        params["counter"] = counter
    return f"otpauth://{kind}/{label}?{urlencode(params, quote_via=quote)}"


def random_numeric_code(digits: int = 6) -> str:
    """A uniformly random code of ``digits`` decimal digits (leading zeros kept) for SMS or a call."""
    if not 4 <= digits <= 10:
        raise ValidationFailed("a numeric code has 4 to 10 digits", code=error_codes.OTP_BAD_DIGITS)
    return str(secrets.randbelow(10**digits)).zfill(digits)


def hash_code(server_key: bytes, code: str, *, context: str) -> str:
    """HMAC-SHA256 of a sent code, bound to its challenge (``context``, e.g. the identification id).

    A six-digit code hashed plainly is brute-forced in a millisecond; keyed with a server secret the
    stored value is useless to someone who reads the database only. Binding the context stops a
    stored hash from one challenge being replayed against another.
    """
    if len(server_key) < MIN_KEY_BYTES:
        raise ValidationFailed("code-hashing key is too short", code=error_codes.OTP_KEY_TOO_SHORT)
    message = context.encode("utf-8") + b"\x00" + code.encode("utf-8")
    return hmac.new(server_key, message, "sha256").hexdigest()


def verify_code_hash(server_key: bytes, code: str, stored: str, *, context: str, digits: int = 6) -> bool:
    """Whether ``code`` (as typed) is the one whose :func:`hash_code` is ``stored``, in constant time."""
    code = normalize_code(code, digits)
    return hmac.compare_digest(hash_code(server_key, code, context=context), stored)
