"""The PIV card application from the host (NIST SP 800-73-4 part 2): certificates, PIN, signatures.

    card = PivCard(connection)                      # selects the PIV application
    for cert in card.certificates(): ...            # slot, algorithm, DER
    card.verify_pin("123456")                       # WrongPin(tries_left) / PinBlocked
    signature = card.sign(0x9A, data)               # algorithm from the slot's certificate

Signatures come back in the form a verifier expects: RSA PKCS#1 v1.5 with SHA-256 (the card does
the raw RSA operation on the block padded here), ECDSA P-256 with SHA-256 as DER, GOST R
34.10-2015-512 with Streebog-512 in NCA's 128-byte encoding (private algorithm reference D2, see
`simulators.vcard`). Streebog comes from `authsvc.pki.gost`, the project's one GOST implementation."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from asn1crypto import x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.pki import gost
from drivers.pcsc import tlv
from drivers.pcsc.apdu import Command, Response
from drivers.pcsc.errors import InvalidData, NotFound, PinBlocked, ProtocolError, WrongPin, from_status
from drivers.pcsc.transport import Connection

PIV_AID: Final = bytes.fromhex("A000000308000010000100")
PIN_REF: Final = 0x80
PUK_REF: Final = 0x81
SLOT_PIV_AUTH: Final = 0x9A
SLOT_SIGNATURE: Final = 0x9C
SLOT_KEY_MANAGEMENT: Final = 0x9D
SLOT_CARD_AUTH: Final = 0x9E
SLOT_RETIRED_1: Final = 0x82
CERT_OBJECTS: Final[dict[int, int]] = {
    SLOT_PIV_AUTH: 0x5FC105,
    SLOT_SIGNATURE: 0x5FC10A,
    SLOT_KEY_MANAGEMENT: 0x5FC10B,
    SLOT_CARD_AUTH: 0x5FC101,
    SLOT_RETIRED_1: 0x5FC10D,
}
GOST_SIGNATURE_OID: Final = "1.2.398.3.10.1.1.2.3.2"
_SHA256_DIGEST_INFO: Final = bytes.fromhex("3031300d060960864801650304020105000420")


class Algorithm(StrEnum):
    RSA_2048 = "rsa-2048"
    ECC_P256 = "ecc-p256"
    GOST_2015_512 = "gost2015-512"

    @property
    def reference(self) -> int:
        """The PIV algorithm reference (SP 800-78-4 table 6-2; D2 is the virtual card's own)."""
        return {"rsa-2048": 0x07, "ecc-p256": 0x11, "gost2015-512": 0xD2}[self.value]


@dataclass(frozen=True)
class CardCertificate:
    slot: int
    der: bytes
    algorithm: Algorithm

    @property
    def certificate(self) -> pyca_x509.Certificate:
        """The certificate (pyca/cryptography; `public_key()` is unavailable for GOST keys)."""
        return pyca_x509.load_der_x509_certificate(self.der)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def public_key_info(self) -> bytes:
        """SubjectPublicKeyInfo DER, for any key algorithm (asn1crypto leaves it unparsed)."""
        return bytes(x509.Certificate.load(self.der)["tbs_certificate"]["subject_public_key_info"].dump())


def algorithm_of(der: bytes) -> Algorithm:
    """The card algorithm matching a certificate's public key; ValueError for one the card cannot use."""
    cert = pyca_x509.load_der_x509_certificate(der)
    oid = cert.public_key_algorithm_oid.dotted_string
    if gost.is_gost_key_oid(oid):
        return Algorithm.GOST_2015_512
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048:
        return Algorithm.RSA_2048
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return Algorithm.ECC_P256
    raise ValueError(f"no PIV algorithm for a key of algorithm {oid}")


def _pin_block(pin: str) -> bytes:
    if not pin.isdigit() or not 6 <= len(pin) <= 8:
        raise ValueError("a PIV PIN is 6 to 8 digits")
    return pin.encode("ascii").ljust(8, b"\xff")


def _puk_block(puk: str) -> bytes:
    raw = puk.encode("ascii")
    if len(raw) != 8:
        raise ValueError("a PIV PUK is 8 characters")
    return raw


class PivCard:
    """One PIV card on an open `Connection` (blocking; see `drivers.pcsc.aio` for async use)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._certificates: dict[int, CardCertificate] = {}  # a card cannot change under an open connection
        self.select()

    def _call(self, cmd: Command) -> Response:
        answer = self.connection.transmit(cmd)
        if not answer.ok:
            raise from_status(answer.sw)
        return answer

    def select(self) -> bytes:
        """SELECT the PIV application; its application property template."""
        return self._call(Command(0x00, 0xA4, 0x04, 0x00, PIV_AID, le=256)).data

    def get_data(self, tag: int) -> bytes:
        """A data object's content (inside tag 53, or 7E for the discovery object)."""
        tag_bytes = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
        answer = self._call(Command(0x00, 0xCB, 0x3F, 0xFF, tlv.encode(0x5C, tag_bytes), le=65536))
        return tlv.value(answer.data, 0x7E if tag == 0x7E else 0x53)

    def chuid(self) -> dict[int, bytes]:
        """The Card Holder Unique Identifier's fields (30 FASC-N, 34 GUID, 35 expiry, ...)."""
        return tlv.objects(self.get_data(0x5FC102))

    def certificate(self, slot: int) -> CardCertificate:
        cached = self._certificates.get(slot)
        if cached is not None:
            return cached
        obj = tlv.objects(self.get_data(CERT_OBJECTS[slot]))
        der = obj.get(0x70)
        if der is None:
            raise ProtocolError("the certificate object has no certificate (tag 70)")
        if obj.get(0x71, b"\x00") != b"\x00":
            raise ProtocolError("compressed certificates are not supported")
        found = self._certificates[slot] = CardCertificate(slot, der, algorithm_of(der))
        return found

    def certificates(self) -> list[CardCertificate]:
        """Every certificate on the card, PIV slots first, then the retired slot 82 (GOST)."""
        found = []
        for slot in CERT_OBJECTS:
            try:
                found.append(self.certificate(slot))
            except NotFound:
                continue
        return found

    def pin_tries_left(self) -> int | None:
        """Tries left before the PIN locks; None when the PIN is verified in this session."""
        answer = self.connection.transmit(Command(0x00, 0x20, 0x00, PIN_REF))
        if answer.ok:
            return None
        if answer.sw == 0x6983:
            return 0
        if answer.sw & 0xFFF0 == 0x63C0:
            return answer.sw & 0x0F
        raise from_status(answer.sw)

    def verify_pin(self, pin: str) -> None:
        """Raises WrongPin (with tries_left) or PinBlocked."""
        self._call(Command(0x00, 0x20, 0x00, PIN_REF, _pin_block(pin)))

    def logout(self) -> None:
        self._call(Command(0x00, 0x20, 0xFF, PIN_REF))

    def change_pin(self, old: str, new: str) -> None:
        self._call(Command(0x00, 0x24, 0x00, PIN_REF, _pin_block(old) + _pin_block(new)))

    def unblock_pin(self, puk: str, new_pin: str) -> None:
        """RESET RETRY COUNTER: the PUK sets a new PIN and restores its tries."""
        self._call(Command(0x00, 0x2C, 0x00, PIN_REF, _puk_block(puk) + _pin_block(new_pin)))

    def general_authenticate(self, slot: int, algorithm: Algorithm, challenge: bytes) -> bytes:
        """The card's raw private-key operation on `challenge` (its response tag 82)."""
        template = tlv.encode(0x7C, tlv.encode(0x82, b"") + tlv.encode(0x81, challenge))
        answer = self._call(Command(0x00, 0x87, algorithm.reference, slot, template, le=65536))
        return tlv.value(tlv.value(answer.data, 0x7C), 0x82)

    def sign(self, slot: int, data: bytes, algorithm: Algorithm | None = None, *, prehashed: bool = False) -> bytes:
        """Sign `data` (or, with `prehashed`, its digest: SHA-256, or Streebog-512 for GOST) with the
        key in `slot`; the algorithm defaults to the one of the slot's certificate."""
        if algorithm is None:
            algorithm = self.certificate(slot).algorithm
        if algorithm is Algorithm.GOST_2015_512:
            digest = data if prehashed else gost.digest(GOST_SIGNATURE_OID, data)
            if len(digest) != 64:
                raise InvalidData(0x6700, "a Streebog-512 digest is 64 bytes")
            return self.general_authenticate(slot, algorithm, digest)
        digest = data if prehashed else hashlib.sha256(data).digest()
        if len(digest) != 32:
            raise InvalidData(0x6700, "a SHA-256 digest is 32 bytes")
        if algorithm is Algorithm.ECC_P256:
            return self.general_authenticate(slot, algorithm, digest)
        # EMSA-PKCS1-v1_5 (RFC 8017 §9.2): 00 01 FF.. 00 DigestInfo
        info = _SHA256_DIGEST_INFO + digest
        block = b"\x00\x01" + b"\xff" * (256 - 3 - len(info)) + b"\x00" + info
        return self.general_authenticate(slot, algorithm, block)


__all__ = [
    "Algorithm",
    "CardCertificate",
    "PinBlocked",
    "PivCard",
    "WrongPin",
    "algorithm_of",
]
