"""The card as the reader sees it: an ATR, power and reset, and the transport rules of ISO 7816-4
around the PIV application: command chaining (CLA bit 0x10), short and extended APDUs, long
answers handed out in pieces with 61xx + GET RESPONSE, and 6Cxx when a short Le is too small (except for
GET DATA, which hands out the first Le bytes and 61xx, as PIV cards do: OpenSC reads an object's first
8 bytes to learn its length and fails on 6Cxx, so its PKCS#11 token had no serial)."""

from __future__ import annotations

from typing import Final

from simulators.vcard.apdu import Command, MalformedApdu, parse_command
from simulators.vcard.piv import SW_OK, SW_WRONG_LENGTH, PivApplet
from simulators.vcard.profile import CardProfile

INS_GET_DATA: Final = 0xCB

INS_GET_RESPONSE: Final = 0xC0
SW_CHAINING_UNSUPPORTED: Final = 0x6884  # chained INS changed mid-chain
SW_NO_DATA: Final = 0x6A82  # nothing left for GET RESPONSE
MAX_MESSAGE: Final = 0xFFFF  # the vpcd frame: a two-byte length


def _atr() -> bytes:
    """T=1 ATR; historical bytes: compact-TLV card capabilities 73 80 21 C0 — selection by full DF
    name, and byte 3 = command chaining + extended Lc/Le (ISO 7816-4 §8.1.1.2.7)."""
    body = bytes.fromhex("85 81 31 FE 45") + bytes.fromhex("80 73 80 21 C0")
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3b" + body + bytes([tck])


ATR: Final = _atr()


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class Card:
    def __init__(self, profile: CardProfile) -> None:
        self.applet = PivApplet(profile)
        self._chain: tuple[int, int, int, int, bytearray] | None = None  # cla&~0x10, ins, p1, p2, data
        self._pending = b""  # response bytes not yet fetched with GET RESPONSE
        self.powered = False

    def power_on(self) -> None:
        self.powered = True
        self.reset()

    def power_off(self) -> None:
        self.powered = False
        self.reset()

    def reset(self) -> None:
        self.applet.reset()
        self._chain = None
        self._pending = b""

    def transmit(self, raw: bytes) -> bytes:
        """One command APDU in, one response APDU out."""
        try:
            cmd = parse_command(raw)
        except MalformedApdu:
            return _sw(SW_WRONG_LENGTH)
        if cmd.ins == INS_GET_RESPONSE and self._chain is None:
            if not self._pending:
                return _sw(SW_NO_DATA)
            return self._deliver(self._pending, cmd)
        self._pending = b""
        whole = self._unchain(cmd)
        if whole is None:
            return _sw(SW_OK)  # one link of a chain taken in
        if isinstance(whole, int):
            return _sw(whole)
        reply = self.applet.handle(whole)
        if reply.sw != SW_OK:
            return _sw(reply.sw)
        return self._deliver(reply.data, whole)

    def _unchain(self, cmd: Command) -> Command | int | None:
        head = (cmd.cla & ~0x10, cmd.ins, cmd.p1, cmd.p2)
        if self._chain is not None and self._chain[:4] != head:
            self._chain = None
            return SW_CHAINING_UNSUPPORTED
        if cmd.chained:
            if self._chain is None:
                self._chain = (*head, bytearray())
            self._chain[4].extend(cmd.data)
            return None
        if self._chain is not None:
            data = bytes(self._chain[4]) + cmd.data
            self._chain = None
            return Command(head[0], cmd.ins, cmd.p1, cmd.p2, data, cmd.le, cmd.extended)
        return cmd

    def _deliver(self, data: bytes, cmd: Command) -> bytes:
        le = cmd.le or (65536 if cmd.extended else 256)
        short_le = not cmd.extended and cmd.le and cmd.le < 256 and cmd.le < len(data) <= 256
        if short_le and cmd.ins != INS_GET_DATA:
            return _sw(0x6C00 | len(data) % 256)  # wrong Le: ask again with the exact length
        chunk = min(le, MAX_MESSAGE - 2)
        head, rest = data[:chunk], data[chunk:]
        self._pending = rest
        if not rest:
            return head + _sw(SW_OK)
        return head + _sw(0x6100 | min(len(rest), 256) % 256)
