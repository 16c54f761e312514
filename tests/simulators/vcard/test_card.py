"""The card's answers APDU by APDU, in process (the same card `run` plugs into vpcd)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from authsvc.pki import gost
from simulators.vcard import tlv
from simulators.vcard.apdu import MalformedApdu, parse_command
from simulators.vcard.card import ATR, Card
from simulators.vcard.profile import CardProfile

SELECT = bytes.fromhex("00A4040009A00000030800001000") + b"\x00"
GET_CERT_9A = bytes.fromhex("00CB3FFF055C035FC10500")
GOOD_PIN = b"123456\xff\xff"


def sw(answer: bytes) -> int:
    return int.from_bytes(answer[-2:], "big")


def verify(pin: bytes) -> bytes:
    return bytes.fromhex("0020008008") + pin


def general_authenticate(alg: int, slot: int, challenge: bytes, *, extended: bool = True) -> bytes:
    body = tlv.tlv(0x7C, tlv.tlv(0x82, b"") + tlv.tlv(0x81, challenge))
    head = bytes([0x00, 0x87, alg, slot])
    if extended:
        return head + b"\x00" + len(body).to_bytes(2, "big") + body + b"\x00\x00"
    return head + bytes([len(body)]) + body + b"\x00"


@pytest.fixture
def card(profile: CardProfile) -> Card:
    c = Card(profile)
    c.power_on()
    assert sw(c.transmit(SELECT)) == 0x9000
    return c


def fetch(card: Card, first: bytes) -> tuple[bytes, int]:
    """Follow 61xx with GET RESPONSE as a reader would."""
    answer = card.transmit(first)
    data = answer[:-2]
    while answer[-2] == 0x61:
        answer = card.transmit(bytes([0x00, 0xC0, 0x00, 0x00, answer[-1]]))
        data += answer[:-2]
    return data, sw(answer)


def test_atr_announces_t1_chaining_and_extended_length() -> None:
    assert ATR[0] == 0x3B
    assert bytes.fromhex("7380 21C0") in ATR  # card capabilities: byte 3 = chaining + extended Lc/Le
    tck = 0
    for b in ATR[1:]:
        tck ^= b
    assert tck == 0  # TCK makes the XOR of T0..TCK zero (ISO 7816-3 §8.2.5)


def test_select_answers_the_application_property_template(profile: CardProfile) -> None:
    c = Card(profile)
    answer = c.transmit(SELECT)
    assert sw(answer) == 0x9000
    apt = dict(tlv.parse(tlv.find(answer[:-2], 0x61) or b""))
    assert apt[0x4F] == bytes.fromhex("000010000100")
    assert tlv.find(apt[0x79], 0x4F) == bytes.fromhex("A000000308")
    assert sw(c.transmit(bytes.fromhex("00A4040005A000000999"))) == 0x6A82


def test_certificate_comes_in_61xx_pieces_with_short_apdus(card: Card, profile: CardProfile) -> None:
    first = card.transmit(GET_CERT_9A)
    assert len(first) == 258 and first[-2] == 0x61
    data, status = fetch(card, GET_CERT_9A)
    assert status == 0x9000
    obj = dict(tlv.parse(tlv.find(data, 0x53) or b""))
    assert obj[0x70] == profile.slots[0x9A].certificate
    assert obj[0x71] == b"\x00"


def test_extended_le_takes_the_certificate_at_once(card: Card, profile: CardProfile) -> None:
    answer = card.transmit(bytes.fromhex("00CB3FFF00 0005 5C035FC105 0000"))
    assert sw(answer) == 0x9000
    assert profile.slots[0x9A].certificate in answer


def test_short_le_too_small_gets_6cxx_then_the_exact_length(card: Card) -> None:
    answer = card.transmit(SELECT[:-1] + b"\x05")
    assert answer[0] == 0x6C
    exact = card.transmit(SELECT[:-1] + answer[1:2])
    assert sw(exact) == 0x9000 and len(exact) - 2 == answer[1]


def test_get_data_with_a_short_le_gives_the_first_bytes_then_the_rest(card: Card) -> None:
    # OpenSC reads 8 bytes of an object to learn its length; 6Cxx there left its tokens without a serial.
    first = card.transmit(bytes.fromhex("00CB3FFF055C035FC10208"))
    assert len(first) - 2 == 8 and first[-2] == 0x61 and first[:2] == b"\x53" + first[1:2]
    rest = card.transmit(bytes([0x00, 0xC0, 0x00, 0x00, first[-1]]))
    whole, status = fetch(card, bytes.fromhex("00CB3FFF055C035FC10200"))
    assert status == 0x9000 and first[:-2] + rest[:-2] == whole


def test_a_chuid_names_the_card_by_its_guid_not_a_federal_fascn(profile: CardProfile) -> None:
    assert profile.fascn[:3] == bytes.fromhex("D4E739")  # agency code 9999: hosts use the GUID (SP 800-73-4)
    assert CardProfile(holder="x").guid != CardProfile(holder="x").guid


def test_objects_chuid_discovery_and_missing_ones(card: Card, profile: CardProfile) -> None:
    chuid, status = fetch(card, bytes.fromhex("00CB3FFF055C035FC10200"))
    assert status == 0x9000
    fields = dict(tlv.parse(tlv.find(chuid, 0x53) or b""))
    assert fields[0x34] == profile.guid and fields[0x35] == b"20301231"
    discovery = card.transmit(bytes.fromhex("00CB3FFF035C017E00"))
    assert tlv.find(discovery[:-2], 0x7E) is not None
    assert sw(card.transmit(bytes.fromhex("00CB3FFF055C035FC10B00"))) == 0x6A82  # no 9D certificate


def test_wrong_pin_counts_down_then_blocks_and_the_puk_unblocks(card: Card) -> None:
    assert sw(card.transmit(bytes.fromhex("0020008000"[:8]))) == 0x63C3  # status query: 3 tries
    assert sw(card.transmit(verify(b"000000\xff\xff"))) == 0x63C2
    assert sw(card.transmit(verify(b"111111\xff\xff"))) == 0x63C1
    assert sw(card.transmit(verify(b"222222\xff\xff"))) == 0x6983
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x6983  # the right PIN no longer helps
    assert sw(card.transmit(bytes.fromhex("00200080"))) == 0x6983
    wrong_puk = bytes.fromhex("002C008010") + b"87654321" + b"654321\xff\xff"
    assert sw(card.transmit(wrong_puk)) == 0x63C2
    unblock = bytes.fromhex("002C008010") + b"12345678" + b"654321\xff\xff"
    assert sw(card.transmit(unblock)) == 0x9000
    assert sw(card.transmit(verify(b"654321\xff\xff"))) == 0x9000
    assert sw(card.transmit(bytes.fromhex("00200080"))) == 0x9000  # verified
    assert sw(card.transmit(bytes.fromhex("0020FF80"))) == 0x9000  # log out
    assert sw(card.transmit(bytes.fromhex("00200080"))) == 0x63C3


def test_a_good_pin_restores_the_counter(card: Card) -> None:
    assert sw(card.transmit(verify(b"000000\xff\xff"))) == 0x63C2
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x9000
    assert card.applet.pin.left == 3


def test_change_reference_data(card: Card) -> None:
    change = bytes.fromhex("0024008010")
    assert sw(card.transmit(change + GOOD_PIN + b"12\xff\xff\xff\xff\xff\xff")) == 0x6A80  # too short
    assert sw(card.transmit(change + b"999999\xff\xff" + b"24681357")) == 0x63C2
    assert sw(card.transmit(change + GOOD_PIN + b"24681357")) == 0x9000
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x63C2
    assert sw(card.transmit(verify(b"24681357"))) == 0x9000


def test_signing_needs_the_pin(card: Card) -> None:
    answer = card.transmit(general_authenticate(0x11, 0x9C, hashlib.sha256(b"x").digest()))
    assert sw(answer) == 0x6982


def test_rsa_general_authenticate_is_the_raw_private_operation(card: Card, profile: CardProfile) -> None:
    key = x509.load_der_x509_certificate(profile.slots[0x9A].certificate).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(b"data").digest()
    block = b"\x00\x01" + b"\xff" * (256 - 3 - len(digest_info)) + b"\x00" + digest_info
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x9000
    answer = card.transmit(general_authenticate(0x07, 0x9A, block))
    assert sw(answer) == 0x9000
    signature = tlv.find(tlv.find(answer[:-2], 0x7C) or b"", 0x82)
    assert signature is not None
    key.verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())


def test_command_chaining_carries_a_256_byte_challenge_in_short_apdus(card: Card, profile: CardProfile) -> None:
    key = x509.load_der_x509_certificate(profile.slots[0x9A].certificate).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(b"chain").digest()
    block = b"\x00\x01" + b"\xff" * (256 - 3 - len(digest_info)) + b"\x00" + digest_info
    body = tlv.tlv(0x7C, tlv.tlv(0x82, b"") + tlv.tlv(0x81, block))
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x9000
    first, rest = body[:255], body[255:]
    assert sw(card.transmit(bytes([0x10, 0x87, 0x07, 0x9A, 255]) + first)) == 0x9000
    data, status = fetch(card, bytes([0x00, 0x87, 0x07, 0x9A, len(rest)]) + rest + b"\x00")
    assert status == 0x9000
    signature = tlv.find(tlv.find(data, 0x7C) or b"", 0x82) or b""
    key.verify(signature, b"chain", padding.PKCS1v15(), hashes.SHA256())


def test_ecdsa_p256(card: Card, profile: CardProfile) -> None:
    key = x509.load_der_x509_certificate(profile.slots[0x9C].certificate).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x9000
    answer = card.transmit(general_authenticate(0x11, 0x9C, hashlib.sha256(b"ec").digest(), extended=False))
    signature = tlv.find(tlv.find(answer[:-2], 0x7C) or b"", 0x82) or b""
    key.verify(signature, b"ec", ec.ECDSA(hashes.SHA256()))


def test_gost_under_private_reference_d2(card: Card, profile: CardProfile) -> None:
    from asn1crypto import x509 as asn1_x509

    der = profile.slots[0x82].certificate
    spki = asn1_x509.Certificate.load(der)["tbs_certificate"]["subject_public_key_info"].dump()
    oid = "1.2.398.3.10.1.1.2.3.2"
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x9000
    data, status = fetch(card, general_authenticate(0xD2, 0x82, gost.digest(oid, b"gost"), extended=False))
    assert status == 0x9000
    signature = tlv.find(tlv.find(data, 0x7C) or b"", 0x82) or b""
    assert len(signature) == 128
    assert gost.verify(spki, oid, b"gost", signature)
    assert not gost.verify(spki, oid, b"other", signature)


def test_algorithm_must_match_the_slot_and_bad_input_is_refused(card: Card) -> None:
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x9000
    assert sw(card.transmit(general_authenticate(0x11, 0x9A, b"\x01" * 32))) == 0x6A86  # RSA slot, EC alg
    assert sw(card.transmit(general_authenticate(0xD2, 0x82, b"\x01" * 32))) == 0x6A80  # short digest
    assert sw(card.transmit(general_authenticate(0x07, 0x9E, b"\x01" * 256))) == 0x6A86  # empty slot
    assert sw(card.transmit(bytes.fromhex("0087079A 03 7C0182"))) == 0x6A80  # truncated template
    assert sw(card.transmit(bytes.fromhex("80CA000000"))) == 0x6E00
    assert sw(card.transmit(bytes.fromhex("00FD000000"))) == 0x6D00
    assert sw(card.transmit(bytes.fromhex("00A4"))) == 0x6700


@pytest.mark.parametrize(
    ("raw", "data", "le", "extended"),
    [
        ("00A40400", "", 0, False),
        ("00CA000000", "", 256, False),
        ("00A4040002A0A1", "A0A1", 0, False),
        ("00A4040002A0A100", "A0A1", 256, False),
        ("00CA0000000000", "", 65536, False),
        ("00CA0000000002A0A1", "A0A1", 0, True),
        ("00CA0000000002A0A10100", "A0A1", 256, True),
    ],
)
def test_command_apdu_cases(raw: str, data: str, le: int, extended: bool) -> None:
    cmd = parse_command(bytes.fromhex(raw))
    assert cmd.data == bytes.fromhex(data) and cmd.le == le
    if le != 65536:
        assert cmd.extended is extended


@pytest.mark.parametrize("raw", ["00A404", "00A4040003A0A1", "00A4040000000003A0", "00A404000000"])
def test_malformed_apdus(raw: str) -> None:
    with pytest.raises(MalformedApdu):
        parse_command(bytes.fromhex(raw))


def test_rsa_raw_operation_on_any_block_below_the_modulus(card: Card, profile: CardProfile) -> None:
    """Not only PKCS#1 v1.5 blocks (which take OpenSSL's path): any c < n gets c^d mod n (PSS, raw)."""
    key = x509.load_der_x509_certificate(profile.slots[0x9A].certificate).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    n, e = key.public_numbers().n, key.public_numbers().e
    block = b"\x00\x02" + bytes(range(254))
    assert sw(card.transmit(verify(GOOD_PIN))) == 0x9000
    answer = card.transmit(general_authenticate(0x07, 0x9A, block))
    signature = tlv.find(tlv.find(answer[:-2], 0x7C) or b"", 0x82) or b""
    assert pow(int.from_bytes(signature, "big"), e, n) == int.from_bytes(block, "big")
    too_big = n.to_bytes(256, "big")
    assert sw(card.transmit(general_authenticate(0x07, 0x9A, too_big))) == 0x6A80
