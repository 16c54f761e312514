"""`KioskFailure`: a failure the agent reports with one of its outcome codes (see `messages`)."""

from __future__ import annotations

from drivers.pkcs11 import errors as p11errors


class KioskFailure(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.tries: str | None = None  # PKCS#11 only says "low" or "final"
        self.tries_left: int | None = None  # a PIV card says how many


_TOKEN_CODES: dict[type[p11errors.TokenError], str] = {
    p11errors.ModuleNotFound: "module_missing",
    p11errors.NotAPkcs11Module: "module_missing",
    p11errors.NoToken: "no_token",
    p11errors.TokenRemoved: "token_removed",
    p11errors.PinIncorrect: "pin_incorrect",
    p11errors.PinInvalid: "pin_incorrect",
    p11errors.PinLocked: "pin_locked",
    p11errors.PinEntryCancelled: "pin_cancelled",
    p11errors.KeyNotFound: "no_certificate",
    p11errors.MechanismNotSupported: "device_error",
    p11errors.NotLoggedIn: "pin_incorrect",
    p11errors.DeviceError: "device_error",
}


def from_token_error(exc: p11errors.TokenError) -> KioskFailure:
    failure = KioskFailure(_TOKEN_CODES.get(type(exc), "device_error"), exc.sentence)
    if isinstance(exc, p11errors.PinIncorrect):
        failure.tries = exc.tries
    return failure
