"""CRL parsing, validation and the compact serial index, on NCA's real CRLs and synthetic ones (R-7.1)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from authsvc.pki.crl import CrlError, crl_urls, index_crl, parse_crl, reason_name, validate_crl
from authsvc.pki.crl_index import CrlIndex, IndexFileError, build_index, der_header
from tests.shared import fixture_path

NCANODE = ("nca", "ncanode")
AT_2004 = datetime(2022, 6, 1, tzinfo=UTC)
AT_2015 = datetime(2022, 8, 1, tzinfo=UTC)


def read(*parts: str) -> bytes:
    data = fixture_path(*NCANODE, *parts).read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


# --- synthetic PKI (cryptography builds what NCA cannot give us: big, delta and broken CRLs) ---------
@cache
def rsa_key(label: str) -> rsa.RSAPrivateKey:
    del label  # one key per label, cached for the session
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_ca(label: str = "ca", name: str = "ТЕСТОВЫЙ УЦ (RSA) TEST") -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa_key(label)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ")])
    now = datetime(2020, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=3650 * 2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


Entry = tuple[int, datetime, x509.ReasonFlags | None]


def make_crl(
    ca: tuple[rsa.RSAPrivateKey, x509.Certificate],
    entries: list[Entry],
    *,
    number: int = 1,
    this_update: datetime,
    next_update: datetime,
    delta_of: int | None = None,
) -> bytes:
    key, cert = ca
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    if delta_of is not None:
        builder = builder.add_extension(x509.DeltaCRLIndicator(delta_of), critical=True)
    for serial, when, reason in entries:
        revoked = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        if reason is not None:
            revoked = revoked.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(revoked.build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
REASONS = [None, x509.ReasonFlags.key_compromise, x509.ReasonFlags.certificate_hold, x509.ReasonFlags.superseded]


@cache
def big_crl() -> tuple[bytes, dict[int, tuple[int, int | None]]]:
    """~20,000 entries with 3- to 20-octet serials; returns the DER and {serial: (time, reason code)}."""
    rng = random.Random(20260110)
    expected: dict[int, tuple[int, int | None]] = {}
    entries: list[Entry] = []
    for i in range(20_000):
        serial = rng.getrandbits(rng.choice([24, 64, 159])) | 1
        if serial in expected:
            continue
        when = T0 - timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))
        reason = REASONS[i % len(REASONS)]
        entries.append((serial, when, reason))
        expected[serial] = (int(when.timestamp()), _reason_code(reason) if reason else None)
    crl = make_crl(make_ca(), entries, number=42, this_update=T0, next_update=T0 + timedelta(days=1))
    return crl, expected


def _reason_code(reason: x509.ReasonFlags) -> int:
    return {
        x509.ReasonFlags.key_compromise: 1,
        x509.ReasonFlags.certificate_hold: 6,
        x509.ReasonFlags.superseded: 4,
        x509.ReasonFlags.remove_from_crl: 8,
    }[reason]


# --- the real NCA CRLs --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("crl_file", "entries", "number", "issuer_cn"),
    [
        ("nca_rsa_test.crl", 126, 9, "ҰКО 3.0 (RSA TEST)"),
        ("nca_gost_test.crl", 31, 7, "ҰКО 3.0 (GOST TEST)"),
        ("nca_gost2022_test.crl", 6, 4, "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022"),
    ],
)
def test_nca_crl_envelope_and_entry_count(crl_file: str, entries: int, number: int, issuer_cn: str) -> None:
    parsed = parse_crl(read("crl", crl_file))
    assert parsed.info.crl_number == number
    assert issuer_cn in parsed.info.issuer
    assert not parsed.info.is_delta
    assert len(index_crl(parsed)) == entries


@pytest.mark.parametrize(
    ("cert_file", "crl_file", "listed"),
    [
        ("p12/KEY_INDIVIDUAL_AUTH_REVOKED_2004.cert.pem", "nca_rsa_test.crl", True),
        ("p12/KEY_INDIVIDUAL_SIGN_REVOKED_2004.cert.pem", "nca_rsa_test.crl", True),
        ("p12/KEY_INDIVIDUAL_VALID_SIGN_2004.cert.pem", "nca_rsa_test.crl", False),
        # its CDP names the RSA CRL, but its issuer is the GOST CA: the issuer's CRL lists it
        ("p12/KEY_CEO_SIGN_REVOKED_2004.cert.pem", "nca_gost_test.crl", True),
        ("p12/KEY_CEO_SIGN_REVOKED_2004.cert.pem", "nca_rsa_test.crl", False),
        ("p12/KEY_CEO_REVOKED_2015.cert.pem", "nca_gost2022_test.crl", True),
        ("p12/KEY_INDIVIDUAL_VALID_2015.cert.pem", "nca_gost2022_test.crl", False),
    ],
)
def test_revoked_keystores_are_listed_in_their_issuers_crl(cert_file: str, crl_file: str, listed: bool) -> None:
    cert = asn1_x509.Certificate.load(read(*cert_file.split("/")))
    index = index_crl(parse_crl(read("crl", crl_file)))
    entry = index.lookup(cert.serial_number)
    assert (entry is not None) is listed
    if entry is not None:
        assert entry.serial == cert.serial_number


@pytest.mark.parametrize(
    ("cert_file", "full", "delta"),
    [
        ("KEY_CEO_REVOKED_2015.cert.pem", "nca_gost2022_test.crl", "nca_gost2022_d_test.crl"),
        ("KEY_INDIVIDUAL_VALID_SIGN_2004.cert.pem", "nca_rsa_test.crl", "nca_d_rsa_test.crl"),
        ("KEY_CEO_SIGN_REVOKED_2004.cert.pem", "nca_rsa_test.crl", "nca_d_rsa_test.crl"),  # sic: GOST issuer
    ],
)
def test_certificates_name_their_full_and_delta_crls(cert_file: str, full: str, delta: str) -> None:
    base = "http://test.pki.gov.kz/crl/"
    assert crl_urls(read("p12", cert_file)) == ([base + full], [base + delta])


def test_rsa_crl_entry_details_match_the_crl() -> None:
    index = index_crl(parse_crl(read("crl", "nca_rsa_test.crl")))
    entry = index.lookup(0x4B779CB5647C4DA7B07327C503EAB1656D716ED8)
    assert entry is not None
    assert datetime.fromtimestamp(entry.revoked_at, UTC) == datetime(2021, 3, 30, 18, 10, 21, tzinfo=UTC)
    assert reason_name(entry.reason) == "key_compromise"
    unreasoned = index.lookup(0x1F6DE34F4F4BB353DD57EF15E4E6DDB8363F6D00)
    assert unreasoned is not None and unreasoned.reason is None


@pytest.mark.parametrize(
    ("crl_file", "ca_file", "at"),
    [
        ("nca_rsa_test.crl", "nca_rsa_test.crt", AT_2004),
        ("nca_gost_test.crl", "nca_gost_test.crt", AT_2004),
        # inner AlgorithmIdentifier without parameters, outer with NULL: pyca refuses it, we must not
        ("nca_gost2022_test.crl", "nca_gost2015_test.cer", AT_2015),
    ],
)
def test_nca_crl_signatures_verify_with_their_ca(crl_file: str, ca_file: str, at: datetime) -> None:
    parsed = validate_crl(read("crl", crl_file), read("ca", ca_file), at)
    assert parsed.info.issuer_der == asn1_x509.Certificate.load(read("ca", ca_file)).subject.dump()


@pytest.mark.parametrize(
    ("ca_file", "at", "code"),
    [
        ("nca_gost_test.crt", AT_2004, "crl_issuer_mismatch"),
        ("nca_rsa_test.crt", datetime(2022, 10, 1, tzinfo=UTC), "crl_expired"),
        ("nca_rsa_test.crt", datetime(2022, 3, 1, tzinfo=UTC), "crl_not_yet_valid"),
    ],
)
def test_rsa_crl_refused_for_wrong_issuer_or_time(ca_file: str, at: datetime, code: str) -> None:
    with pytest.raises(CrlError) as caught:
        validate_crl(read("crl", "nca_rsa_test.crl"), read("ca", ca_file), at)
    assert caught.value.code == code


def test_tampered_crl_fails_its_signature() -> None:
    data = bytearray(read("crl", "nca_rsa_test.crl"))
    position = data.find(bytes.fromhex("4B779CB5647C4DA7B07327C503EAB1656D716ED8"))
    data[position + 5] ^= 0x01  # un-revoke a certificate by changing its serial
    with pytest.raises(CrlError) as caught:
        validate_crl(bytes(data), read("ca", "nca_rsa_test.crt"), AT_2004)
    assert caught.value.code == "crl_signature_invalid"


def test_crl_number_must_not_go_backwards() -> None:
    with pytest.raises(CrlError) as caught:
        validate_crl(read("crl", "nca_rsa_test.crl"), read("ca", "nca_rsa_test.crt"), AT_2004, min_crl_number=10)
    assert caught.value.code == "crl_number_regressed"
    assert validate_crl(read("crl", "nca_rsa_test.crl"), read("ca", "nca_rsa_test.crt"), AT_2004, min_crl_number=9)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Try again later</body></html>",
        b"-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n",
        b"\x30\x82\xff\xff\x00",
        b"\x30\x03\x02\x01\x01",
        bytes(random.Random(7).randrange(256) for _ in range(4096)),
    ],
    ids=["empty", "html", "pem", "truncated", "not-a-crl", "noise"],
)
def test_garbage_is_a_named_failure(body: bytes) -> None:
    with pytest.raises(CrlError) as caught:
        parse_crl(body)
    assert caught.value.code == "crl_malformed"


def test_truncated_real_crl_is_malformed() -> None:
    with pytest.raises(CrlError) as caught:
        parse_crl(read("crl", "nca_rsa_test.crl")[:-100])
    assert caught.value.code == "crl_malformed"


# --- synthetic CRLs -----------------------------------------------------------------------------------
def test_index_answers_for_every_entry_of_a_20k_crl() -> None:
    crl, expected = big_crl()
    index = index_crl(validate_crl(crl, der(make_ca()[1]), T0 + timedelta(hours=1)))
    assert len(index) == len(expected)
    for serial, (when, reason) in expected.items():
        entry = index.lookup(serial)
        assert entry is not None, hex(serial)
        assert (entry.revoked_at, entry.reason) == (when, reason)
    rng = random.Random(1)
    misses = [rng.getrandbits(159) | 2 for _ in range(2000)]
    assert all(index.lookup(s) is None for s in misses if s not in expected)
    assert index.lookup(0) is None and index.lookup(-5) is None and index.lookup(1 << 400) is None


def test_index_keeps_edge_serials_apart() -> None:
    """Serials that differ only by a sign octet or by length must never alias each other."""
    serials = [1, 0x7F, 0x80, 0xFF, 0x100, 0x8000, (1 << 158) | 1, (1 << 159) - 1]
    crl = make_crl(
        make_ca(),
        [(s, T0 - timedelta(days=1), None) for s in serials],
        this_update=T0,
        next_update=T0 + timedelta(days=1),
    )
    index = index_crl(parse_crl(crl))
    assert [e.serial for e in index.entries()] == sorted(serials)
    for serial in serials:
        assert index.lookup(serial) is not None
    for absent in (0x7E, 0x81, 0x1FF, 0x10000, 1 << 158):
        assert index.lookup(absent) is None


def test_index_takes_oversized_and_negative_serials() -> None:
    """Non-conforming CAs issue >20-octet and negative serials; the index widens instead of failing."""
    serials = [-1, -0x80, 5, (1 << 200) + 3, (1 << 239) - 1]
    entries = asn1_crl.RevokedCertificates(
        [{"user_certificate": s, "revocation_date": asn1_x509.Time({"utc_time": T0})} for s in serials]
    ).dump()
    _, start, end = der_header(entries, 0)
    index = build_index(entries, start, end, {})
    assert index.serial_width == 30
    assert sorted(e.serial for e in index.entries()) == sorted(serials)
    assert all(index.lookup(s) is not None for s in serials)
    assert index.lookup(0x7F) is None and index.lookup(-2) is None


def test_index_survives_a_restart_and_detects_corruption(tmp_path: Path) -> None:
    crl, expected = big_crl()
    index = index_crl(parse_crl(crl), {"source_url": "http://crl.example/test.crl"})
    path = tmp_path / "test.idx"
    index.save(path)
    loaded = CrlIndex.load(path)
    assert loaded.meta == index.meta and loaded.meta["crl_number"] == 42
    serial = next(iter(expected))
    assert loaded.lookup(serial) == index.lookup(serial)

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="checksum"):
        CrlIndex.load(path)
    path.write_bytes(b"not an index")
    with pytest.raises(IndexFileError):
        CrlIndex.load(path)


def test_index_format_version_is_checked(tmp_path: Path) -> None:
    import hashlib

    index = index_crl(parse_crl(read("crl", "nca_rsa_test.crl")))
    path = tmp_path / "rsa.idx"
    index.save(path)
    body = path.read_bytes()[:-32].replace(b'"version": 1', b'"version": 9')
    path.write_bytes(body + hashlib.sha256(body).digest())
    with pytest.raises(IndexFileError, match="version 9"):
        CrlIndex.load(path)


def test_delta_crl_is_recognised() -> None:
    ca = make_ca()
    delta = make_crl(
        ca,
        [(77, T0, x509.ReasonFlags.remove_from_crl)],
        number=43,
        delta_of=42,
        this_update=T0,
        next_update=T0 + timedelta(hours=6),
    )
    parsed = validate_crl(delta, der(ca[1]), T0, delta=True)
    assert parsed.info.is_delta and parsed.info.base_crl_number == 42 and parsed.info.crl_number == 43
    entry = index_crl(parsed).lookup(77)
    assert entry is not None and reason_name(entry.reason) == "remove_from_crl"
    with pytest.raises(CrlError) as caught:
        validate_crl(delta, der(ca[1]), T0, delta=False)
    assert caught.value.code == "crl_unsupported"


def test_crl_signed_by_another_key_with_the_same_name_is_refused() -> None:
    impostor = make_ca("impostor")  # same subject name, different key
    crl = make_crl(impostor, [], this_update=T0, next_update=T0 + timedelta(days=1))
    with pytest.raises(CrlError) as caught:
        validate_crl(crl, der(make_ca()[1]), T0)
    assert caught.value.code == "crl_issuer_mismatch"  # its authority key id names the other key
