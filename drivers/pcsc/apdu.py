"""Command and response APDUs on the host side (ISO 7816-4 §5.1): encoding in the short or the
extended form, and splitting long command data for command chaining."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from drivers.pcsc.errors import ProtocolError

SHORT_DATA: Final = 255
SHORT_LE: Final = 256
EXTENDED_LE: Final = 65536


@dataclass(frozen=True)
class Command:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int = 0  # expected response bytes; 0 = none; 256 (short) or 65536 (extended) = as many as there are

    def needs_extended(self) -> bool:
        return len(self.data) > SHORT_DATA or self.le > SHORT_LE

    def encode(self, *, extended: bool) -> bytes:
        head = bytes([self.cla, self.ins, self.p1, self.p2])
        if len(self.data) > 65535 or self.le > EXTENDED_LE:
            raise ValueError("an APDU carries at most 65535 data bytes and expects at most 65536")
        if not extended:
            if self.needs_extended():
                raise ValueError("data over 255 bytes or Le over 256 needs an extended APDU or chaining")
            body = bytes([len(self.data)]) + self.data if self.data else b""
            return head + body + (bytes([self.le % 256]) if self.le else b"")
        if not self.data and not self.le:
            return head
        body = b"\x00"
        if self.data:
            body += len(self.data).to_bytes(2, "big") + self.data
        if self.le:
            body += (self.le % EXTENDED_LE).to_bytes(2, "big")
        return head + body

    def chain(self) -> list[Command]:
        """The command as a chain of short commands (CLA bit 0x10 on all links but the last)."""
        pieces = [self.data[i : i + SHORT_DATA] for i in range(0, len(self.data), SHORT_DATA)] or [b""]
        links = [replace(self, cla=self.cla | 0x10, data=p, le=0) for p in pieces[:-1]]
        return [*links, replace(self, data=pieces[-1], le=min(self.le, SHORT_LE))]


@dataclass(frozen=True)
class Response:
    data: bytes
    sw: int

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    @classmethod
    def decode(cls, raw: bytes) -> Response:
        if len(raw) < 2:
            raise ProtocolError("the card answered fewer than two bytes (no status word)")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))
