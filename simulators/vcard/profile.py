"""What is on one virtual card, as a JSON file: PINs, the key and certificate of every slot, the
CHUID's identifiers. Written by `provision`, read by `run`."""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

# PIV key references (SP 800-73-4 part 1 table 4b) and the data objects of their certificates
SLOT_PIV_AUTH: Final = 0x9A
SLOT_SIGNATURE: Final = 0x9C
SLOT_KEY_MANAGEMENT: Final = 0x9D
SLOT_CARD_AUTH: Final = 0x9E
SLOT_RETIRED_1: Final = 0x82  # the GOST key: OpenSC reads retired slots only when key history says so
CERT_OBJECTS: Final[dict[int, int]] = {
    SLOT_PIV_AUTH: 0x5FC105,
    SLOT_SIGNATURE: 0x5FC10A,
    SLOT_KEY_MANAGEMENT: 0x5FC10B,
    SLOT_CARD_AUTH: 0x5FC101,
    SLOT_RETIRED_1: 0x5FC10D,
}
DEFAULT_PIN: Final = "123456"
DEFAULT_PUK: Final = "12345678"
PIN_TRIES: Final = 3
PUK_TRIES: Final = 3
# The FASC-N of a card issued outside the US federal agencies (agency, system and credential all 9s; as
# PIV-I cards carry): hosts then tell cards apart by the GUID, which is random per card. OpenSC takes its
# PKCS#11 token serial from it; an all-zero FASC-N made every virtual card token "00000000".
NON_FEDERAL_FASCN: Final = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")


@dataclass
class SlotContent:
    pkcs8: bytes
    certificate: bytes  # DER


@dataclass
class CardProfile:
    holder: str
    pin: str = DEFAULT_PIN
    puk: str = DEFAULT_PUK
    slots: dict[int, SlotContent] = field(default_factory=dict)
    guid: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    fascn: bytes = NON_FEDERAL_FASCN
    expiry: str = "20301231"  # CHUID expiration date, YYYYMMDD

    def dump(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "pin": self.pin,
            "puk": self.puk,
            "guid": self.guid.hex(),
            "fascn": self.fascn.hex(),
            "expiry": self.expiry,
            "slots": {
                f"{slot:02X}": {
                    "key": base64.b64encode(c.pkcs8).decode(),
                    "certificate": base64.b64encode(c.certificate).decode(),
                }
                for slot, c in self.slots.items()
            },
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> CardProfile:
        slots = {
            int(name, 16): SlotContent(base64.b64decode(v["key"]), base64.b64decode(v["certificate"]))
            for name, v in data["slots"].items()
        }
        unknown = set(slots) - set(CERT_OBJECTS)
        if unknown:
            raise ValueError(f"unknown PIV slots {sorted(f'{s:02X}' for s in unknown)}")
        return cls(
            holder=str(data["holder"]),
            pin=str(data["pin"]),
            puk=str(data["puk"]),
            slots=slots,
            guid=bytes.fromhex(data["guid"]),
            fascn=bytes.fromhex(data["fascn"]),
            expiry=str(data["expiry"]),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds private keys
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.dump(), out, ensure_ascii=False, indent=1)
        os.replace(tmp, path)

    @classmethod
    def read(cls, path: Path) -> CardProfile:
        return cls.load(json.loads(path.read_text(encoding="utf-8")))
