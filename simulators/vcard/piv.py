"""The PIV card application (NIST SP 800-73-4 part 2, a subset): SELECT, GET DATA, VERIFY,
CHANGE REFERENCE DATA, RESET RETRY COUNTER, GENERAL AUTHENTICATE (signatures only).

`PivApplet.handle` takes one complete command (chaining already undone by `card.Card`) and returns
the complete response data and status word; splitting long answers is the card layer's business."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final

from simulators.vcard import keys, tlv
from simulators.vcard.apdu import Command
from simulators.vcard.profile import CERT_OBJECTS, PIN_TRIES, PUK_TRIES, SLOT_CARD_AUTH, CardProfile

PIV_AID: Final = bytes.fromhex("A000000308000010000100")
PIV_RID: Final = bytes.fromhex("A000000308")
PIN_REF: Final = 0x80
PUK_REF: Final = 0x81
TAG_DISCOVERY: Final = 0x7E
TAG_CHUID: Final = 0x5FC102
TAG_CCC: Final = 0x5FC107
TAG_KEY_HISTORY: Final = 0x5FC10C

SW_OK: Final = 0x9000
SW_WRONG_LENGTH: Final = 0x6700
SW_SECURITY: Final = 0x6982  # security status not satisfied
SW_BLOCKED: Final = 0x6983  # authentication method blocked
SW_WRONG_DATA: Final = 0x6A80
SW_NOT_FOUND: Final = 0x6A82
SW_WRONG_P1P2: Final = 0x6A86
SW_REF_NOT_FOUND: Final = 0x6A88
SW_INS: Final = 0x6D00
SW_CLA: Final = 0x6E00


@dataclass
class Reply:
    data: bytes
    sw: int

    @classmethod
    def status(cls, sw: int) -> Reply:
        return cls(b"", sw)


class RetryCounter:
    """A PIN or PUK with its tries left; compared in constant time, blocked at zero."""

    def __init__(self, value: str, tries: int) -> None:
        self.value = _pad(value)
        self.limit = tries
        self.left = tries

    def check(self, candidate: bytes) -> int:
        if self.left == 0:
            return SW_BLOCKED
        if hmac.compare_digest(candidate, self.value):
            self.left = self.limit
            return SW_OK
        self.left -= 1
        return SW_BLOCKED if self.left == 0 else 0x63C0 | self.left


def _pad(pin: str) -> bytes:
    raw = pin.encode("ascii")
    return raw + b"\xff" * (8 - len(raw))


def _valid_pin_block(block: bytes, *, min_len: int) -> bool:
    """8 bytes: 6-8 ASCII digits (for the PIN; the PUK may be any 8 bytes) padded with FF."""
    if len(block) != 8:
        return False
    digits = block.rstrip(b"\xff")
    return len(digits) >= min_len and all(0x30 <= b <= 0x39 for b in digits)


class PivApplet:
    def __init__(self, profile: CardProfile) -> None:
        self.profile = profile
        self.pin = RetryCounter(profile.pin, PIN_TRIES)
        self.puk = RetryCounter(profile.puk, PUK_TRIES)
        self.keys: dict[int, keys.CardKey] = {slot: keys.load_key(c.pkcs8) for slot, c in profile.slots.items()}
        self.objects = self._objects()
        self.pin_verified = False

    def reset(self) -> None:
        """Card reset or power-off: the security status is lost, the counters are not."""
        self.pin_verified = False

    def _objects(self) -> dict[int, bytes]:
        p = self.profile
        objects = {
            TAG_CHUID: tlv.tlv(0x30, p.fascn)
            + tlv.tlv(0x34, p.guid)
            + tlv.tlv(0x35, p.expiry.encode())
            + tlv.tlv(0x3E, b"")
            + tlv.tlv(0xFE, b""),
            TAG_CCC: tlv.tlv(0xF0, bytes.fromhex("A000000116FF") + p.guid[:15])
            + b"".join(tlv.tlv(t, v) for t, v in ((0xF1, b"\x21"), (0xF2, b"\x21"), (0xF3, b""), (0xF4, b"\x00")))
            + b"".join(tlv.tlv(t, b"") for t in (0xF5, 0xF6, 0xF7, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE)),
            # no retired key has an on-card certificate as far as OpenSC is told: slot 82 is ours (GOST)
            TAG_KEY_HISTORY: tlv.tlv(0xC1, b"\x00") + tlv.tlv(0xC2, b"\x00") + tlv.tlv(0xFE, b""),
        }
        for slot, content in p.slots.items():
            objects[CERT_OBJECTS[slot]] = (
                tlv.tlv(0x70, content.certificate) + tlv.tlv(0x71, b"\x00") + tlv.tlv(0xFE, b"")
            )
        return objects

    def handle(self, cmd: Command) -> Reply:
        if cmd.cla & ~0x10 != 0x00:
            return Reply.status(SW_CLA)
        handler = {
            0xA4: self._select,
            0xCB: self._get_data,
            0x20: self._verify,
            0x24: self._change_reference,
            0x2C: self._reset_retry_counter,
            0x87: self._general_authenticate,
        }.get(cmd.ins)
        if handler is None:
            return Reply.status(SW_INS)
        return handler(cmd)

    def _select(self, cmd: Command) -> Reply:
        if cmd.p1 != 0x04:
            return Reply.status(SW_WRONG_P1P2)
        if not cmd.data or not PIV_AID.startswith(cmd.data) or len(cmd.data) < len(PIV_RID):
            return Reply.status(SW_NOT_FOUND)
        algorithms = b"".join(tlv.tlv(0x80, bytes([a])) for a in (keys.ALG_RSA_2048, keys.ALG_ECC_P256))
        template = (
            tlv.tlv(0x4F, PIV_AID[5:])
            + tlv.tlv(0x79, tlv.tlv(0x4F, PIV_RID))
            + tlv.tlv(0x50, b"authsvc virtual PIV")
            + tlv.tlv(0xAC, algorithms + tlv.tlv(0x06, b""))
        )
        return Reply(tlv.tlv(0x61, template), SW_OK)

    def _get_data(self, cmd: Command) -> Reply:
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF):
            return Reply.status(SW_WRONG_P1P2)
        try:
            tag_list = tlv.find(cmd.data, 0x5C)
        except ValueError:
            return Reply.status(SW_WRONG_DATA)
        if tag_list is None or not 1 <= len(tag_list) <= 3:
            return Reply.status(SW_WRONG_DATA)
        tag = int.from_bytes(tag_list, "big")
        if tag == TAG_DISCOVERY:  # PIV AID + PIN usage policy: the PIV PIN only
            return Reply(tlv.tlv(0x7E, tlv.tlv(0x4F, PIV_AID) + tlv.tlv(0x5F2F, b"\x40\x00")), SW_OK)
        content = self.objects.get(tag)
        if content is None:
            return Reply.status(SW_NOT_FOUND)
        return Reply(tlv.tlv(0x53, content), SW_OK)

    def _verify(self, cmd: Command) -> Reply:
        if cmd.p2 != PIN_REF:
            return Reply.status(SW_REF_NOT_FOUND)
        if cmd.p1 == 0xFF:  # reset the security status (SP 800-73-4 §3.2.1)
            self.pin_verified = False
            return Reply.status(SW_OK)
        if cmd.p1 != 0x00:
            return Reply.status(SW_WRONG_P1P2)
        if not cmd.data:  # ask for the status: verified, or the tries left
            if self.pin.left == 0:
                return Reply.status(SW_BLOCKED)
            return Reply.status(SW_OK if self.pin_verified else 0x63C0 | self.pin.left)
        if len(cmd.data) != 8:
            return Reply.status(SW_WRONG_LENGTH)
        sw = self.pin.check(cmd.data)
        self.pin_verified = sw == SW_OK
        return Reply.status(sw)

    def _change_reference(self, cmd: Command) -> Reply:
        counter = {PIN_REF: self.pin, PUK_REF: self.puk}.get(cmd.p2)
        if cmd.p1 != 0x00 or counter is None:
            return Reply.status(SW_REF_NOT_FOUND)
        if len(cmd.data) != 16:
            return Reply.status(SW_WRONG_LENGTH)
        old, new = cmd.data[:8], cmd.data[8:]
        if not _valid_pin_block(new, min_len=6 if cmd.p2 == PIN_REF else 8):
            return Reply.status(SW_WRONG_DATA)
        sw = counter.check(old)
        if sw == SW_OK:
            counter.value = new
        if counter is self.pin:
            self.pin_verified = sw == SW_OK
        return Reply.status(sw)

    def _reset_retry_counter(self, cmd: Command) -> Reply:
        """Unblock the PIN with the PUK and set a new PIN (SP 800-73-4 §3.2.3)."""
        if (cmd.p1, cmd.p2) != (0x00, PIN_REF):
            return Reply.status(SW_REF_NOT_FOUND)
        if len(cmd.data) != 16:
            return Reply.status(SW_WRONG_LENGTH)
        if not _valid_pin_block(cmd.data[8:], min_len=6):
            return Reply.status(SW_WRONG_DATA)
        sw = self.puk.check(cmd.data[:8])
        if sw == SW_OK:
            self.pin.value = cmd.data[8:]
            self.pin.left = self.pin.limit
        return Reply.status(sw)

    def _general_authenticate(self, cmd: Command) -> Reply:
        key = self.keys.get(cmd.p2)
        if key is None or key.algorithm != cmd.p1:
            return Reply.status(SW_WRONG_P1P2)
        if cmd.p2 != SLOT_CARD_AUTH and not self.pin_verified:
            return Reply.status(SW_SECURITY)
        try:
            template = tlv.find(cmd.data, 0x7C)
            parts = dict(tlv.parse(template or b""))
        except ValueError:
            return Reply.status(SW_WRONG_DATA)
        challenge = parts.get(0x81)
        if template is None or challenge is None or 0x82 not in parts or parts[0x82]:
            return Reply.status(SW_WRONG_DATA)  # only "sign this challenge" (82 empty, 81 challenge)
        try:
            signature = key.sign(challenge)
        except keys.ChallengeRejected:
            return Reply.status(SW_WRONG_DATA)
        return Reply(tlv.tlv(0x7C, tlv.tlv(0x82, signature)), SW_OK)
