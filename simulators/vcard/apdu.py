"""Command APDUs as a card receives them (ISO 7816-4 §5.1): the four cases, short and extended."""

from __future__ import annotations

from dataclasses import dataclass


class MalformedApdu(ValueError):
    """The bytes are no command APDU (the card answers 6700 wrong length)."""


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int  # maximum response length the reader accepts; 0 when no response data is expected
    extended: bool

    @property
    def chained(self) -> bool:
        """Bit 5 of CLA: more command data follows in the next APDU (command chaining)."""
        return bool(self.cla & 0x10)


def parse_command(raw: bytes) -> Command:
    if len(raw) < 4:
        raise MalformedApdu("an APDU has at least four bytes")
    cla, ins, p1, p2 = raw[:4]
    body = raw[4:]
    if not body:  # case 1
        return Command(cla, ins, p1, p2, b"", 0, False)
    if len(body) == 1:  # case 2 short
        return Command(cla, ins, p1, p2, b"", body[0] or 256, False)
    if body[0] != 0:  # case 3/4 short
        lc = body[0]
        if len(body) == 1 + lc:
            return Command(cla, ins, p1, p2, body[1:], 0, False)
        if len(body) == 2 + lc:
            return Command(cla, ins, p1, p2, body[1 : 1 + lc], body[-1] or 256, False)
        raise MalformedApdu("Lc does not match the command length")
    # extended: a zero byte, then two-byte Lc and/or Le
    if len(body) == 3:  # case 2 extended
        return Command(cla, ins, p1, p2, b"", int.from_bytes(body[1:3], "big") or 65536, True)
    lc = int.from_bytes(body[1:3], "big")
    if lc == 0:
        raise MalformedApdu("extended Lc of zero")
    if len(body) == 3 + lc:
        return Command(cla, ins, p1, p2, body[3:], 0, True)
    if len(body) == 5 + lc:
        return Command(cla, ins, p1, p2, body[3 : 3 + lc], int.from_bytes(body[-2:], "big") or 65536, True)
    raise MalformedApdu("extended Lc does not match the command length")
