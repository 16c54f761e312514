"""PC/SC smart-card readers and PIV cards (pyscard over pcsc-lite; WinSCard on Windows): the smart card
of R-2.8 as a factor (R-2.2, R-6.5, R-7.3a) and the EDS of a contract (R-10.1) at a terminal (R-2.9).

Blocking layer (`transport`): `Context` lists readers, watches insertions and removals
(`watch`, `wait_for_card`, `wait_for_removal`) and connects; `Connection.transmit(Command)` sends an APDU whole —
extended when the card's ATR announces extended length, chained (CLA 0x10) otherwise — and returns
the whole answer, fetching 61xx remainders with GET RESPONSE and resending on 6Cxx with the Le the
card asked for. Async layer (`aio`): `AsyncReader` runs every call of a reader on that reader's own
thread, never on the event loop. Signing API (`piv`), for the kiosk agent:

    with Context() as ctx, ctx.connect(ctx.readers()[0]) as conn:
        card = PivCard(conn)
        certs = card.certificates()             # [CardCertificate(slot, der, algorithm)]
        card.pin_tries_left()                   # None once verified
        card.verify_pin("123456")
        signature = card.sign(0x9A, data)       # RSA-2048 PKCS#1 v1.5 SHA-256
        signature = card.sign(0x9C, data)       # ECDSA P-256 SHA-256, DER
        signature = card.sign(0x82, data)       # GOST 34.10-2015-512 + Streebog-512 (NCA encoding)

Errors (`errors`; each has a stable `code` and a sentence an operator can act on):

    PcscError
     ├── ServiceUnavailable (ConnectionError)  0x8010001D/1E  "pcscd is not running: ..."
     ├── NoReader                              0x8010002E, 0x80100009, 0x80100017
     ├── CardAbsent                            0x8010000C
     ├── CardRemoved (ConnectionError)         0x80100069, or a transfer failing with the card gone
     ├── CardReset                             0x80100068
     ├── SharingViolation                      0x8010000B
     ├── CardUnresponsive                      0x80100065/66/67, 0x8010000F
     ├── PcscTimeout (TimeoutError)            0x8010000A
     ├── Cancelled                             0x80100002
     ├── ProtocolError                         a malformed answer
     └── CardCommandError (.sw)                the card refused a command
          ├── WrongPin (.tries_left)           63Cx
          ├── PinBlocked                       6983
          ├── SecurityNotSatisfied             6982 (PIN needed)
          ├── NotFound                         6A82, 6A88
          ├── Unsupported                      6A81, 6A86, 6D00, 6E00, 6883/84
          └── InvalidData                      6700, 6A80, 6984
"""

from __future__ import annotations

from drivers.pcsc.aio import AsyncPivCard, AsyncReader, list_readers
from drivers.pcsc.apdu import Command, Response
from drivers.pcsc.errors import (
    Cancelled,
    CardAbsent,
    CardCommandError,
    CardRemoved,
    CardReset,
    CardUnresponsive,
    InvalidData,
    NoReader,
    NotFound,
    PcscError,
    PcscTimeout,
    PinBlocked,
    ProtocolError,
    SecurityNotSatisfied,
    ServiceUnavailable,
    SharingViolation,
    Unsupported,
    WrongPin,
)
from drivers.pcsc.piv import Algorithm, CardCertificate, PivCard, algorithm_of
from drivers.pcsc.transport import CardEvent, Connection, Context, ReaderState

__all__ = [
    "Algorithm",
    "AsyncPivCard",
    "AsyncReader",
    "Cancelled",
    "CardAbsent",
    "CardCertificate",
    "CardCommandError",
    "CardEvent",
    "CardRemoved",
    "CardReset",
    "CardUnresponsive",
    "Command",
    "Connection",
    "Context",
    "InvalidData",
    "NoReader",
    "NotFound",
    "PcscError",
    "PcscTimeout",
    "PinBlocked",
    "PivCard",
    "ProtocolError",
    "ReaderState",
    "Response",
    "SecurityNotSatisfied",
    "ServiceUnavailable",
    "SharingViolation",
    "Unsupported",
    "WrongPin",
    "algorithm_of",
    "list_readers",
]
