"""Device errors as domain errors, each with a stable code and a sentence a person can act on.

    TokenError
    ├── ModuleNotFound          module_not_found        the module path does not exist
    ├── NotAPkcs11Module        not_a_pkcs11_module     the file loads but exports no C_GetFunctionList
    ├── NoToken                 no_token                no token present (or none with that label/serial)
    ├── PinIncorrect            pin_incorrect           wrong PIN; ``tries`` is "low", "final" or None
    ├── PinInvalid              pin_invalid             the PIN has the wrong length or characters
    ├── PinLocked               pin_locked              the user PIN is blocked
    ├── PinEntryCancelled       pin_entry_cancelled     the PIN pad entry was cancelled or timed out
    ├── NotLoggedIn             not_logged_in           the operation needs a log-in first
    ├── TokenRemoved            token_removed           the token went away in the middle of an operation
    ├── MechanismNotSupported   mechanism_not_supported the token cannot sign with this key/mechanism
    ├── KeyNotFound             key_not_found           no private key next to the chosen certificate
    └── DeviceError             device_error            anything else the module answered

`translate` turns a python-pkcs11 exception into one of these; the token flags read right after a
failed log-in give the tries left (CKF_USER_PIN_COUNT_LOW / CKF_USER_PIN_FINAL_TRY / CKF_USER_PIN_LOCKED).
"""

from __future__ import annotations

from typing import Literal

from pkcs11 import TokenFlag
from pkcs11 import exceptions as p11

Tries = Literal["low", "final"] | None


class TokenError(Exception):
    """Root of the driver's errors: ``code`` is stable, ``str(error)`` is the sentence."""

    code: str = "device_error"

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


class ModuleNotFound(TokenError, FileNotFoundError):
    code = "module_not_found"


class NotAPkcs11Module(TokenError):
    code = "not_a_pkcs11_module"


class NoToken(TokenError, LookupError):
    code = "no_token"


class PinIncorrect(TokenError):
    code = "pin_incorrect"

    def __init__(self, sentence: str, tries: Tries = None) -> None:
        super().__init__(sentence)
        self.tries = tries


class PinInvalid(TokenError):
    code = "pin_invalid"


class PinLocked(TokenError):
    code = "pin_locked"


class PinEntryCancelled(TokenError):
    code = "pin_entry_cancelled"


class NotLoggedIn(TokenError):
    code = "not_logged_in"


class TokenRemoved(TokenError):
    code = "token_removed"


class MechanismNotSupported(TokenError):
    code = "mechanism_not_supported"


class KeyNotFound(TokenError, LookupError):
    code = "key_not_found"


class DeviceError(TokenError):
    code = "device_error"


# A session or object handle that stops being valid means the token (or its slot) went away.
REMOVAL_ERRORS: tuple[type[Exception], ...] = (
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.ObjectHandleInvalid,
    p11.KeyHandleInvalid,
    p11.SlotIDInvalid,
)


def tries_left(flags: TokenFlag) -> Tries:
    if flags & TokenFlag.USER_PIN_FINAL_TRY:
        return "final"
    if flags & TokenFlag.USER_PIN_COUNT_LOW:
        return "low"
    return None


def pin_failure(flags: TokenFlag) -> TokenError:
    """The error for a refused PIN, from the token flags read after the refusal."""
    if flags & TokenFlag.USER_PIN_LOCKED:
        return PinLocked(
            "The PIN is locked after too many wrong entries; the token must be unblocked with its PUK/SO PIN."
        )
    tries = tries_left(flags)
    if tries == "final":
        return PinIncorrect("Wrong PIN. One try is left before the PIN locks.", tries)
    if tries == "low":
        return PinIncorrect("Wrong PIN. Few tries are left before the PIN locks.", tries)
    return PinIncorrect("Wrong PIN.", None)


def translate(exc: Exception, *, flags: TokenFlag | None = None, what: str = "the operation") -> TokenError:
    """A python-pkcs11 exception as a domain error (``flags``: token flags read after the failure)."""
    if isinstance(exc, TokenError):
        return exc
    if isinstance(exc, p11.PinIncorrect):
        return pin_failure(flags if flags is not None else TokenFlag(0))
    if isinstance(exc, p11.PinLocked):
        return pin_failure(TokenFlag.USER_PIN_LOCKED)
    if isinstance(exc, p11.PinLenRange | p11.PinInvalid):
        return PinInvalid("The PIN has the wrong length or characters for this token.")
    if isinstance(exc, p11.PinExpired):
        return PinLocked("The PIN has expired and must be changed on the token before it can sign.")
    if isinstance(exc, p11.FunctionCancelled):
        return PinEntryCancelled("PIN entry on the reader's PIN pad was cancelled or timed out.")
    if isinstance(exc, p11.UserNotLoggedIn):
        return NotLoggedIn(f"{what} needs the PIN first.")
    if isinstance(exc, REMOVAL_ERRORS):
        return TokenRemoved(f"The token was removed during {what}.")
    if isinstance(exc, p11.MechanismInvalid | p11.MechanismParamInvalid | p11.FunctionNotSupported):
        return MechanismNotSupported(f"The token does not support the mechanism {what} needs.")
    if isinstance(exc, p11.KeyTypeInconsistent):
        return MechanismNotSupported(f"The key on the token may not be used for {what}.")
    name = type(exc).__name__
    return DeviceError(f"The token failed during {what} ({name}).")
