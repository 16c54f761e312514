"""Passwords: the "something you know" criterion (R-2.2, R-6.5, R-7.3a, R-10.1).

Two separate parts:

* :class:`PasswordPolicy` decides whether a new password may be set: a minimum length (10 by
  default), a maximum that is never below 64 characters so pass-phrases and password-manager output
  fit, a deny list of common and breached passwords shipped as package data, and optionally the
  client's own identifiers (IIN, phone). It rejects with a named reason (:class:`PasswordRejected`,
  stable ``code``), as NIST SP 800-63B §3.1.1.2 asks, and imposes no composition rules.
* :class:`PasswordHasher` stores passwords with argon2id (argon2-cffi) under parameters the caller
  passes in, and says when a stored hash was made with other parameters and should be redone at the
  next successful log-in.

Passwords are NFKC-normalised before both checks and hashing, so the same pass-phrase typed on
different keyboards (composed or decomposed letters, full-width digits) is the same password.
Hashing costs tens of milliseconds of CPU: call the ``a``-prefixed coroutines from the event loop,
they run argon2 in a worker thread (argon2-cffi releases the GIL).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from authsvc import error_codes
from authsvc.error_codes import Code
from authsvc.errors import AuthsvcError, ConfigError, ValidationFailed

# NIST SP 800-63B: verifiers should permit at least 64 characters.
MIN_ALLOWED_MAX_LENGTH = 64
DENY_LIST_RESOURCE = "common-passwords.txt"


class PasswordRejected(ValidationFailed):
    """A new password the policy refuses. ``code`` names the reason; ``reason`` repeats it."""

    code = error_codes.PASSWORD_REJECTED

    def __init__(self, detail: str, *, code: Code) -> None:
        reason = code.removeprefix("password_")
        super().__init__(detail, code=code, reason=reason)
        self.reason = reason


def normalize(password: str) -> str:
    """NFKC form of a password (NIST SP 800-63B §5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


@lru_cache(maxsize=1)
def load_deny_list() -> frozenset[str]:
    """The shipped common-password list, lower-cased (see the file's header for its source)."""
    text = resources.files("authsvc.methods.data").joinpath(DENY_LIST_RESOURCE).read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class PasswordPolicy:
    """What a new password must satisfy. Build it from config; :meth:`check` raises or returns.

    ``extra_denied`` adds entries (e.g. the lender's brand name) to the shipped list.
    """

    min_length: int = 10
    max_length: int = 4096
    use_deny_list: bool = True
    extra_denied: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.min_length < 1:
            raise ConfigError("password min_length must be at least 1")
        if self.max_length < max(MIN_ALLOWED_MAX_LENGTH, self.min_length):
            raise ConfigError(f"password max_length must be at least {MIN_ALLOWED_MAX_LENGTH} and not below min_length")

    def check(self, password: str, *, personal: Iterable[str] = ()) -> None:
        """Raise :class:`PasswordRejected` if ``password`` may not be set; ``personal`` are the
        client's identifiers (IIN, phone, names) that must not make up the password."""
        pw = normalize(password)
        if len(pw) < self.min_length:
            raise PasswordRejected(
                f"the password must be at least {self.min_length} characters long", code=error_codes.PASSWORD_TOO_SHORT
            )
        if len(pw) > self.max_length:
            raise PasswordRejected(
                f"the password must be at most {self.max_length} characters long", code=error_codes.PASSWORD_TOO_LONG
            )
        if len(set(pw)) == 1:
            raise PasswordRejected("the password repeats a single character", code=error_codes.PASSWORD_REPETITIVE)
        lowered = pw.casefold()
        if self.use_deny_list and (lowered in load_deny_list() or lowered in self.extra_denied):
            raise PasswordRejected(
                "this password is among the most common or breached passwords", code=error_codes.PASSWORD_COMMON
            )
        squeezed = re.sub(r"[\s\-()+]", "", lowered)
        for item in personal:
            token = re.sub(r"[\s\-()+]", "", normalize(item).casefold())
            # A phone is written with or without its country code: compare its last 10 digits.
            tokens = {token, token[-10:]} if token.isdigit() else {token}
            # Short tokens (a 3-letter name) would reject too much; digits of IIN/phone are long.
            if any(len(t) >= 4 and t in squeezed for t in tokens):
                raise PasswordRejected(
                    "the password must not contain your IIN, phone number or name",
                    code=error_codes.PASSWORD_CONTAINS_PERSONAL_DATA,
                )


@dataclass(frozen=True)
class Argon2Params:
    """argon2id cost. Defaults are OWASP's first argon2id option (m=19 MiB, t=2, p=1)."""

    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16


class PasswordHasher:
    """argon2id hashing under given parameters, with rehash detection."""

    def __init__(self, params: Argon2Params = Argon2Params()) -> None:
        try:
            self._hasher = argon2.PasswordHasher(
                time_cost=params.time_cost,
                memory_cost=params.memory_cost_kib,
                parallelism=params.parallelism,
                hash_len=params.hash_len,
                salt_len=params.salt_len,
                type=argon2.Type.ID,
            )
            # A throw-away hash proves the parameters are acceptable at start-up, not per request.
            self._dummy = self._hasher.hash("parameter check")
        except AuthsvcError:
            raise
        except (argon2.exceptions.HashingError, ValueError) as exc:
            raise ConfigError(f"argon2 parameters rejected: {exc}") from exc
        self.params = params

    def hash(self, password: str) -> str:
        """The PHC-format argon2id string of ``password`` (salt and parameters inside)."""
        return self._hasher.hash(normalize(password))

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored``. A stored value that is not an argon2 hash is a
        data fault, reported as ValidationFailed(code=error_codes.PASSWORD_HASH_INVALID), not a mismatch."""
        try:
            return self._hasher.verify(stored, normalize(password))
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError) as exc:
            raise ValidationFailed(
                "stored password hash is not a valid argon2 hash", code=error_codes.PASSWORD_HASH_INVALID
            ) from exc

    def verify_dummy(self) -> bool:
        """Spend the same time as a real verify when there is no such user, so response time does
        not reveal which identifiers exist. Always False."""
        self._hasher.verify(self._dummy, "parameter check")
        return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters (or another argon2 variant)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError) as exc:
            raise ValidationFailed(
                "stored password hash is not a valid argon2 hash", code=error_codes.PASSWORD_HASH_INVALID
            ) from exc

    async def ahash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash, password)

    async def averify(self, stored: str, password: str) -> bool:
        return await asyncio.to_thread(self.verify, stored, password)

    async def averify_dummy(self) -> bool:
        return await asyncio.to_thread(self.verify_dummy)
