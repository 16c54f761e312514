"""Certificate facts per the NCA profile (KZ-PKI.md §1), checked against values read with `openssl x509`."""

from __future__ import annotations

import base64
import hashlib
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
from asn1crypto import ocsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from authsvc.pki.certinfo import CertificateParseError, cert_info, load_certificate
from authsvc.pki.der import BadEncoding
from tests.pki.nca_material import read

RSA_TEST_CA = "ҰКО 3.0 (RSA TEST)"
GOST_TEST_CA = "ҰКО 3.0 (GOST TEST)"
GOST_2015_CA = "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022"
IIN = "123456789011"
BIN = "123456789021"
LEGAL = ["legal_entity", "ceo"]
DK = "danikarik-ncanode-go"

# (path, serial, iin, bin, roles, subject type, NCANode key usage, key algorithm, key bits, policy, issuer CN)
LEAVES = [
    ((DK, "organization", "active", "AUTH_RSA256_d682726b55b3e62600ea8fe1c74e75fc96f47790.cer"),
     "35588A098DBAB52C87A442605F6DAAC22C823C6F", IIN, BIN, LEGAL, "legal_entity", "AUTH", "rsa", 2048,
     "1.2.398.3.3.2.2", RSA_TEST_CA),
    ((DK, "organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.cer"),
     "10DCD6F16215ED03AA57856AC168ADEAA534F3BF", IIN, BIN, LEGAL, "legal_entity", "SIGN", "gost2004", 256,
     "1.2.398.3.3.2.1", GOST_TEST_CA),
    ((DK, "organization", "revoked", "AUTH_RSA256_7d6d313ac5bf7367a2a69f28607a8deb80dd3ba9.cert.pem"),
     "47621DB6103EED03029A1E00005F5C707A1C9432", IIN, BIN, LEGAL, "legal_entity", "AUTH", "rsa", 2048,
     "1.2.398.3.3.2.2", RSA_TEST_CA),
    ((DK, "organization", "revoked", "GOSTKNCA_c372b7809440fcb681051bbc89ea2f089fd2fe16.cert.pem"),
     "6724A08CCD56299DE8C8896CD1F5D667AF3807EE", IIN, BIN, LEGAL, "legal_entity", "SIGN", "gost2004", 256,
     "1.2.398.3.3.2.1", GOST_TEST_CA),
    ((DK, "personal", "active", "AUTH_RSA256_b2c70a9ff7a5dc59de0ccc3c0ddde3437cc1f12d.cer"),
     "391759E5658DCA490117417838E6C72CD8A853E7", IIN, None, ["individual"], "individual", "AUTH", "rsa", 2048,
     "1.2.398.3.3.2.4", RSA_TEST_CA),
    ((DK, "personal", "active", "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9.cer"),
     "1C1C4ADB45086B3529E004C96302AE974D4F09A4", IIN, None, ["individual"], "individual", "SIGN", "rsa", 2048,
     "1.2.398.3.3.2.3", RSA_TEST_CA),
    ((DK, "personal", "revoked", "AUTH_RSA256_60d5a0346dd52fb5f3b9148e6cfbcd6cf323d119.cert.pem"),
     "28E7785D5DC29A84F1939EB3D91FE9114DAB491F", IIN, None, ["individual"], "individual", "AUTH", "rsa", 2048,
     "1.2.398.3.3.2.4", RSA_TEST_CA),
    ((DK, "personal", "revoked", "RSA256_346a7e57c2995259140b6fc375b6ff3bba7e852f.cert.pem"),
     "4BBAD346A4703C9FD00A8F146AE0C62A0A8E2A14", IIN, None, ["individual"], "individual", "SIGN", "rsa", 2048,
     "1.2.398.3.3.2.3", RSA_TEST_CA),
    (("ncanode", "certs", "ceo_valid_sign_2004_gost.cer"),
     "6CBD4560A33A58C0B07C3363C9AE0674A0838E58", IIN, BIN, LEGAL, "legal_entity", "SIGN", "gost2004", 256,
     "1.2.398.3.3.2.1", GOST_TEST_CA),
    (("ncanode", "certs", "individual_valid_sign_2004_rsa.cer"),
     "41E45CC8A04C705963E5CD6769848A934D8EAEF5", IIN, None, ["individual"], "individual", "SIGN", "rsa", 2048,
     "1.2.398.3.3.2.3", RSA_TEST_CA),
    (("ncanode", "certs", "individual_valid_sign_2004_rsa_auth.cer"),
     "247C3FDA89FA641EA226987393CDAF3F5BAF24B3", IIN, None, ["individual"], "individual", "AUTH", "rsa", 2048,
     "1.2.398.3.3.2.4", RSA_TEST_CA),
    (("ncanode", "certs", "CERT_INDIVIDUAL_from_groovy.cert.pem"),
     "41E45CC8A04C705963E5CD6769848A934D8EAEF5", IIN, None, ["individual"], "individual", "SIGN", "rsa", 2048,
     "1.2.398.3.3.2.3", RSA_TEST_CA),
    (("ncanode", "p12", "KEY_CEO_REVOKED_2015.cert.pem"),
     "3A90343E720594C55204B19CB9A402422EF0E622", IIN, BIN, LEGAL, "legal_entity", "SIGN", "gost2015", 512,
     "1.2.398.3.3.2", GOST_2015_CA),
    (("ncanode", "p12", "KEY_CEO_SIGN_REVOKED_2004.cert.pem"),
     "12E3E7B9966D09EB9CDA64251457E815C2A8DDED", IIN, BIN, LEGAL, "legal_entity", "SIGN", "gost2004", 256,
     "1.2.398.3.3.2.1", GOST_TEST_CA),
    (("ncanode", "p12", "KEY_INDIVIDUAL_AUTH_REVOKED_2004.cert.pem"),
     "1AB11253653B2537F2EDD55F0F66281CA4FA3F98", IIN, None, ["individual"], "individual", "AUTH", "rsa", 2048,
     "1.2.398.3.3.2.4", RSA_TEST_CA),
    (("ncanode", "p12", "KEY_INDIVIDUAL_SIGN_REVOKED_2004.cert.pem"),
     "46757A2158A604189C40FB1FCDAB1143F83F32DB", IIN, None, ["individual"], "individual", "SIGN", "rsa", 2048,
     "1.2.398.3.3.2.3", RSA_TEST_CA),
    (("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.cert.pem"),
     "0FF06211DC82BEB00253FFA000F1DE84ABEF454F", "123456789012", None, ["individual"], "individual", "SIGN",
     "gost2015", 512, "1.2.398.3.3.2", GOST_2015_CA),
    (("ncanode", "p12", "KEY_INDIVIDUAL_VALID_SIGN_2004.cert.pem"),
     "4279390A141F5353A62947B61ED65E81741467D1", IIN, None, ["individual"], "individual", "SIGN", "rsa", 2048,
     "1.2.398.3.3.2.3", RSA_TEST_CA),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "serial", "iin", "bin_", "roles", "subject_type", "ku_class", "key_alg", "key_bits", "policy", "issuer"),
    LEAVES,
    ids=[leaf[0][-1][:28] for leaf in LEAVES],
)
def test_leaf_certificate_facts(
    path: tuple[str, ...],
    serial: str,
    iin: str,
    bin_: str | None,
    roles: list[str],
    subject_type: str,
    ku_class: str,
    key_alg: str,
    key_bits: int,
    policy: str,
    issuer: str,
) -> None:
    info = cert_info(read(*path))
    assert info.serial_number == serial
    assert info.subject.iin == iin
    assert info.subject.bin == bin_
    assert info.roles == roles
    assert info.subject_type == subject_type
    assert info.key_usage_class == ku_class
    assert (info.public_key.algorithm, info.public_key.size) == (key_alg, key_bits)
    assert info.policies == [policy]
    assert info.issuer.common_name == issuer
    assert info.subject.country == "KZ"
    assert not info.is_ca
    assert info.identification_method == "unknown"


def test_patronymic_comes_from_givenname_and_first_name_from_cn() -> None:
    info = cert_info(read("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.cert.pem"))
    assert info.subject.common_name == "ТЕСТТОВ ТЕСТТ"
    assert info.subject.surname == "ТЕСТТОВ"
    assert info.subject.given_name == "ТЕСТТ"
    assert info.subject.patronymic == "ТЕСТТОВИЧ"
    assert (
        info.subject.dn == "CN=ТЕСТТОВ ТЕСТТ, SURNAME=ТЕСТТОВ, SERIALNUMBER=IIN123456789012, C=KZ, GIVENNAME=ТЕСТТОВИЧ"
    )


def test_gost_2015_certificate_with_nca_extension_and_long_ca_name() -> None:
    """1.2.398.3.3.5 is ignored; the 45-character Kazakh CA name with (GOST) parses; URLs come out."""
    info = cert_info(read("ncanode", "p12", "KEY_CEO_REVOKED_2015.cert.pem"))
    assert info.subject.organization == 'АО "ТЕСТ"'
    assert info.key_usage == ["digital_signature", "non_repudiation", "key_encipherment"]
    assert info.extended_key_usage == ["1.3.6.1.5.5.7.3.4", "1.2.398.3.3.4.1.2", "1.2.398.3.3.4.1.2.1"]
    assert info.ocsp_urls == ["http://test.pki.gov.kz/ocsp/"]
    assert info.ca_issuer_urls == ["http://test.pki.gov.kz/cert/nca_gost2022_test.cer"]
    assert info.crl_urls == ["http://test.pki.gov.kz/crl/nca_gost2022_test.crl"]
    assert info.freshest_crl_urls == ["http://test.pki.gov.kz/crl/nca_gost2022_d_test.crl"]
    assert info.signature_algorithm == "1.2.398.3.10.1.1.2.3.2"
    assert info.not_before == datetime(2022, 7, 27, 11, 18, 10, tzinfo=UTC)
    assert info.not_after == datetime(2023, 7, 27, 11, 18, 10, tzinfo=UTC)
    assert info.authority_key_identifier == "fad24b1ba3a0c961fe1ca8503e6aa2bb450db8a3"
    assert info.model_dump(mode="json")["subject"]["iin"] == IIN


@pytest.mark.parametrize(
    ("path", "serial", "key_alg", "key_bits", "subject_cn", "issuer_cn"),
    [
        (
            ("ncanode", "ca", "nca_rsa_test.crt"),
            "452A6437611C183FBF1EC5A1BA4920DD72148A9B",
            "rsa",
            4096,
            RSA_TEST_CA,
            "НЕГІЗГІ КО TEST (RSA)",
        ),
        (
            ("ncanode", "ca", "nca_gost_test.crt"),
            "1236E8F1619123D1E96F00E56791F855E2DCB457",
            "gost2004",
            256,
            GOST_TEST_CA,
            "НЕГІЗГІ КО TEST (GOST)",
        ),
        (
            ("ncanode", "ca", "nca_gost2015_test.cer"),
            "7AD24B1BA3A0C961FE1CA8503E6AA2BB450DB8A3",
            "gost2015",
            512,
            GOST_2015_CA,
            "НЕГІЗГІ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022",
        ),
        (
            ("ncanode", "ca", "NCA_2015_CERT_from_groovy.cer"),
            "7AD24B1BA3A0C961FE1CA8503E6AA2BB450DB8A3",
            "gost2015",
            512,
            GOST_2015_CA,
            "НЕГІЗГІ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (GOST) TEST 2022",
        ),
    ],
)
def test_ca_certificates(
    path: tuple[str, ...], serial: str, key_alg: str, key_bits: int, subject_cn: str, issuer_cn: str
) -> None:
    info = cert_info(read(*path))
    assert info.is_ca
    assert info.key_usage == ["key_cert_sign", "crl_sign"]
    assert (info.serial_number, info.public_key.algorithm, info.public_key.size) == (serial, key_alg, key_bits)
    assert (info.subject.common_name, info.issuer.common_name) == (subject_cn, issuer_cn)
    assert info.subject_type == "unknown"
    assert info.roles == []


def _long_issuer() -> x509.Name:
    """An 80-character CN: cryptography warns past X.520's 64, which is exactly what NCA's CAs exceed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ұ" * 80, _validate=False)])


def _synthetic(ekus: list[str], attrs: list[x509.NameAttribute[Any]]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(attrs)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(_long_issuer())
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now)
        .add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in ekus]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM)


@pytest.mark.parametrize(
    ("ekus", "method", "roles"),
    [
        (["1.2.398.3.3.4.1.1", "1.2.398.3.3.4.3.1"], "in_person", ["individual"]),
        (["1.2.398.3.3.4.1.1", "1.2.398.3.3.4.3.2"], "remote", ["individual"]),
        (["1.2.398.3.3.4.1.1", "1.2.398.3.3.4.3.2", "1.2.398.3.3.4.3.2.1"], "digital_id", ["individual"]),
        (
            ["1.2.398.3.3.4.1.2", "1.2.398.3.3.4.1.2.3", "1.2.398.3.3.4.1.2.4"],
            "unknown",
            ["legal_entity", "sign_financial", "hr"],
        ),
        (
            ["1.2.398.3.3.4.1.2.2", "1.2.398.3.3.4.1.2.5", "1.2.398.3.3.4.1.2.6"],
            "unknown",
            ["sign", "employee", "information_system"],
        ),
        (["1.2.398.3.3.4.1.1.1"], "unknown", ["individual_information_system"]),
        (["1.2.398.3.3.4.2.1"], "unknown", ["nca_staff"]),
        # issue 11 §12: the information-system role of the 1.2.398.5.19 arc, alone and beside NCA's own
        (["1.2.398.5.19.1.2.2.1"], "unknown", ["information_system"]),
        (
            ["1.2.398.3.3.4.1.2", "1.2.398.3.3.4.1.2.6", "1.2.398.5.19.1.2.2.1"],
            "unknown",
            ["legal_entity", "information_system"],
        ),
    ],
)
def test_roles_and_identification_method(ekus: list[str], method: str, roles: list[str]) -> None:
    pem = _synthetic(ekus, [x509.NameAttribute(NameOID.COMMON_NAME, "X")])
    info = cert_info(pem)
    assert info.identification_method == method
    assert info.roles == roles
    assert len(info.issuer.common_name or "") == 80  # longer than X.520's ub-common-name of 64


def test_legal_entity_is_decided_by_bin_even_without_role() -> None:
    attrs = [
        x509.NameAttribute(NameOID.COMMON_NAME, "ИВАНОВ ИВАН"),
        x509.NameAttribute(NameOID.SURNAME, "ИВАНОВ"),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "IIN811201401188"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "BIN971240001315"),
    ]
    info = cert_info(_synthetic(["1.3.6.1.5.5.7.3.4"], attrs))
    assert (info.subject.iin, info.subject.bin, info.subject_type) == ("811201401188", "971240001315", "legal_entity")
    assert info.subject.given_name == "ИВАН"


def test_odd_string_types_are_read() -> None:
    attrs = [
        x509.NameAttribute(NameOID.COMMON_NAME, "ТЕСТ BMP", _type=_ASN1Type.BMPString),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ACME «Ltd»", _type=_ASN1Type.UniversalString),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Almaty", _type=_ASN1Type.PrintableString),
    ]
    info = cert_info(_synthetic([], attrs))
    assert (info.subject.common_name, info.subject.organization, info.subject.locality) == (
        "ТЕСТ BMP",
        "ACME «Ltd»",
        "Almaty",
    )


def test_pem_der_and_base64_inputs_agree() -> None:
    pem = read("ncanode", "p12", "KEY_INDIVIDUAL_SIGN_REVOKED_2004.cert.pem")
    der = load_certificate(pem).dump()
    assert der[:1] == b"\x30"
    serials = {cert_info(x).serial_number for x in (pem, pem.decode(), der, base64.b64encode(der).decode())}
    assert serials == {"46757A2158A604189C40FB1FCDAB1143F83F32DB"}


@pytest.mark.parametrize("junk", [b"", b"hello", b"\x30\x03\x02\x01", b"-----BEGIN CERTIFICATE-----\n!!\n"])
def test_unreadable_certificate_is_a_named_error(junk: bytes) -> None:
    with pytest.raises((CertificateParseError, BadEncoding)) as caught:
        cert_info(junk)
    assert caught.value.code in {"bad_certificate", "bad_encoding"}


def _responder_cert(name: str) -> bytes:
    """The delegated responder certificate inside a real NCA OCSP response, as the bytes it was sent in."""
    response = ocsp.OCSPResponse.load(read("ncanode", "ocsp", name))
    (cert,) = response["response_bytes"]["response"].parsed["certs"]
    contents: bytes = cert.contents
    return b"\x30\x82" + len(contents).to_bytes(2, "big") + contents


@pytest.mark.parametrize(
    ("name", "cn", "serial", "algorithm", "issuer"),
    [
        ("ocsp_response_ceo_sign_2004_revoked.bin", "СЕРВИС ПРОВЕРКИ ОНЛАЙН СТАТУСА СЕРТИФИКАТА",
         "5B6D29D592A5B209CD10EDBD40665980CBB87132", "gost2004", GOST_TEST_CA),
        ("ocsp_response_individual_2015.bin", "OCSP RESPONDER", "7C1FE14BB59FB00D724273D007A7DD6B4A5ED2D0",
         "gost2015", GOST_2015_CA),
    ],
)  # fmt: skip
def test_ocsp_responder_certificates_with_ocsp_nocheck(
    name: str, cn: str, serial: str, algorithm: str, issuer: str
) -> None:
    """Legacy responders carry id-pkix-ocsp-nocheck with an empty value (not DER NULL): tolerated."""
    der = _responder_cert(name)
    info = cert_info(der)
    assert (info.subject.common_name, info.serial_number, info.public_key.algorithm) == (cn, serial, algorithm)
    assert info.issuer.common_name == issuer
    assert info.extended_key_usage == ["1.3.6.1.5.5.7.3.9"]
    assert info.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
