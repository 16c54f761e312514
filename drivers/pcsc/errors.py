"""PC/SC and card errors as one exception tree, each with a stable `code` and a sentence a kiosk
operator can act on (the tree is drawn in `drivers.pcsc`'s docstring)."""

from __future__ import annotations

from typing import ClassVar, Final

# PC/SC return codes (pcsc-lite pcsclite.h, the same on Windows' WinSCard)
SCARD_S_SUCCESS: Final = 0x00000000
SCARD_E_CANCELLED: Final = 0x80100002
SCARD_E_INVALID_HANDLE: Final = 0x80100003
SCARD_E_UNKNOWN_READER: Final = 0x80100009
SCARD_E_TIMEOUT: Final = 0x8010000A
SCARD_E_SHARING_VIOLATION: Final = 0x8010000B
SCARD_E_NO_SMARTCARD: Final = 0x8010000C
SCARD_E_PROTO_MISMATCH: Final = 0x8010000F
SCARD_E_NOT_TRANSACTED: Final = 0x80100016
SCARD_E_READER_UNAVAILABLE: Final = 0x80100017
SCARD_E_NO_SERVICE: Final = 0x8010001D
SCARD_E_SERVICE_STOPPED: Final = 0x8010001E
SCARD_E_NO_READERS_AVAILABLE: Final = 0x8010002E
SCARD_F_COMM_ERROR: Final = 0x80100013
SCARD_W_UNSUPPORTED_CARD: Final = 0x80100065
SCARD_W_UNRESPONSIVE_CARD: Final = 0x80100066
SCARD_W_UNPOWERED_CARD: Final = 0x80100067
SCARD_W_RESET_CARD: Final = 0x80100068
SCARD_W_REMOVED_CARD: Final = 0x80100069


class PcscError(Exception):
    """Root of every error of this package. `code` is stable; `hresult` is the PC/SC code, if any."""

    code: ClassVar[str] = "pcsc_error"
    sentence: ClassVar[str] = "the smart-card subsystem failed"

    def __init__(self, detail: str | None = None, *, hresult: int | None = None) -> None:
        self.hresult = hresult
        text = detail or self.sentence
        if hresult is not None:
            text = f"{text} (PC/SC 0x{hresult:08X})"
        super().__init__(text)


class ServiceUnavailable(PcscError, ConnectionError):
    code = "pcscd_not_running"
    sentence = "pcscd is not running: start the smart-card service (pcscd) and try again"


class NoReader(PcscError):
    code = "no_reader"
    sentence = "no smart-card reader is connected: plug the reader in and try again"


class CardAbsent(PcscError):
    code = "no_card"
    sentence = "there is no card in the reader: insert the card"


class CardRemoved(PcscError, ConnectionError):
    code = "card_removed"
    sentence = "the card was removed during the operation: insert it again and repeat"


class CardReset(PcscError):
    code = "card_reset"
    sentence = "another program reset the card: repeat the operation (the PIN must be entered again)"


class SharingViolation(PcscError):
    code = "card_in_use"
    sentence = "another program is using the card exclusively: close it (e.g. NCALayer) and try again"


class CardUnresponsive(PcscError):
    code = "card_unresponsive"
    sentence = "the card does not answer: take it out, check its orientation, and insert it again"


class PcscTimeout(PcscError, TimeoutError):
    code = "pcsc_timeout"
    sentence = "the reader did not answer in time"


class Cancelled(PcscError):
    code = "pcsc_cancelled"
    sentence = "the wait for the card was cancelled"


class ProtocolError(PcscError):
    code = "card_protocol_error"
    sentence = "the card answered something this program does not understand"


class CardCommandError(PcscError):
    """The card refused a command; `sw` is its status word."""

    code = "card_refused"
    sentence = "the card refused the command"

    def __init__(self, sw: int, detail: str | None = None) -> None:
        self.sw = sw
        super().__init__(f"{detail or self.sentence} (status {sw:04X})")


class WrongPin(CardCommandError):
    code = "wrong_pin"

    def __init__(self, sw: int, tries_left: int) -> None:
        self.tries_left = tries_left
        plural = "try" if tries_left == 1 else "tries"
        super().__init__(sw, f"wrong PIN: {tries_left} {plural} left before the card locks")


class PinBlocked(CardCommandError):
    code = "pin_blocked"
    sentence = "the PIN is locked after too many wrong tries: unblock it with the PUK at the issuer"


class SecurityNotSatisfied(CardCommandError):
    code = "pin_required"
    sentence = "the card needs the PIN before this operation"


class NotFound(CardCommandError):
    code = "not_on_card"
    sentence = "the card has no such application, key or object"


class Unsupported(CardCommandError):
    code = "not_supported_by_card"
    sentence = "the card does not support this operation or algorithm"


class InvalidData(CardCommandError):
    code = "card_rejected_data"
    sentence = "the card rejected the data (wrong length or format)"


_BY_HRESULT: Final[dict[int, type[PcscError]]] = {
    SCARD_E_NO_SERVICE: ServiceUnavailable,
    SCARD_E_SERVICE_STOPPED: ServiceUnavailable,
    SCARD_E_NO_READERS_AVAILABLE: NoReader,
    SCARD_E_UNKNOWN_READER: NoReader,
    SCARD_E_READER_UNAVAILABLE: NoReader,
    SCARD_E_NO_SMARTCARD: CardAbsent,
    SCARD_W_REMOVED_CARD: CardRemoved,
    SCARD_W_RESET_CARD: CardReset,
    SCARD_E_SHARING_VIOLATION: SharingViolation,
    SCARD_W_UNRESPONSIVE_CARD: CardUnresponsive,
    SCARD_W_UNPOWERED_CARD: CardUnresponsive,
    SCARD_W_UNSUPPORTED_CARD: CardUnresponsive,
    SCARD_E_PROTO_MISMATCH: CardUnresponsive,
    SCARD_E_TIMEOUT: PcscTimeout,
    SCARD_E_CANCELLED: Cancelled,
}


def from_hresult(hresult: int, action: str | None = None) -> PcscError:
    """The exception for a PC/SC return code; `action` (e.g. "connecting to reader X") is prefixed."""
    hresult &= 0xFFFFFFFF
    cls = _BY_HRESULT.get(hresult, PcscError)
    detail = cls.sentence if action is None else f"{action}: {cls.sentence}"
    return cls(detail, hresult=hresult)


def from_status(sw: int) -> CardCommandError:
    """The exception for a status word other than 9000."""
    if sw & 0xFFF0 == 0x63C0:
        return WrongPin(sw, sw & 0x0F)
    if sw == 0x6983:
        return PinBlocked(sw)
    if sw == 0x6982:
        return SecurityNotSatisfied(sw)
    if sw in (0x6A82, 0x6A88):
        return NotFound(sw)
    if sw in (0x6A81, 0x6A86, 0x6D00, 0x6E00, 0x6884, 0x6883):
        return Unsupported(sw)
    if sw in (0x6700, 0x6A80, 0x6984):
        return InvalidData(sw)
    return CardCommandError(sw)
