"""NCA PKCS#12 keystores: legacy PBE (3DES key bag, RC2-40 certificate bag, SHA-1 MAC)."""

from __future__ import annotations

import datetime

import pytest
from asn1crypto import x509
from cryptography import x509 as pyca_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from authsvc.errors import BadRequest, ValidationFailed
from authsvc.pki.gost import (
    load_nca_pkcs12,
    load_pkcs12,
    parse_public_key,
    private_key_pkcs8_der,
    sign,
    verify,
)
from authsvc.pki.gost.pkcs12 import pkcs12_kdf
from authsvc.pki.gost.rc2 import decrypt_cbc as rc2_decrypt_cbc
from tests.pki.gost import material

# (keystore, password from the fixtures README, signature algorithm its key uses)
GOST_KEYSTORES = [
    (("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.p12"), "Aa123456", "1.2.398.3.10.1.1.2.3.2"),
    (("ncanode", "p12", "KEY_CEO_REVOKED_2015.p12"), "Aa123456", "1.2.398.3.10.1.1.2.3.2"),
    (("ncanode", "p12", "KEY_CEO_SIGN_REVOKED_2004.p12"), "Qwerty12", "1.2.398.3.10.1.1.1.2"),
    (
        ("danikarik-ncanode-go", "organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.p12"),
        "Qwerty12",
        "1.2.398.3.10.1.1.1.2",
    ),
]


@pytest.mark.parametrize(("parts", "password", "algorithm"), GOST_KEYSTORES, ids=lambda v: str(v)[-40:])
def test_gost_keystore_opens_and_signs(parts: tuple[str, ...], password: str, algorithm: str) -> None:
    key, certificates = load_nca_pkcs12(material.read(*parts), password)
    assert key is not None
    assert len(certificates) == 1
    cert = x509.Certificate.load(certificates[0])
    # The certificate is the one `openssl pkcs12 -legacy` extracted (the .cert.pem beside the keystore).
    sibling = (*parts[:-1], parts[-1].removesuffix(".p12") + ".cert.pem")
    assert certificates[0] == material.der(material.read(*sibling))
    spki = material.spki(cert)
    assert parse_public_key(spki).point == key.public_key().point
    # The simulator's PKCS#8 writer reproduces NCA's encoding byte for byte.
    assert private_key_pkcs8_der(key) == load_pkcs12(material.read(*parts), password).pkcs8_der[0]
    signature = sign(key, algorithm, b"authsvc keystore check")
    assert verify(spki, algorithm, b"authsvc keystore check", signature)
    assert not verify(spki, algorithm, b"authsvc keystore check!", signature)


def test_rsa_keystore_gives_pkcs8_that_matches_its_certificate() -> None:
    contents = load_pkcs12(material.read("ncanode", "p12", "KEY_INDIVIDUAL_VALID_SIGN_2004.p12"), "Qwerty12")
    assert contents.gost_keys == []
    (pkcs8,) = contents.other_keys_pkcs8
    (cert_der,) = contents.certificates
    private = serialization.load_der_private_key(pkcs8, password=None)
    cert_spki = material.spki(x509.Certificate.load(cert_der))
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == cert_spki


def test_wrong_password_is_reported_as_such() -> None:
    data = material.read("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.p12")
    with pytest.raises(ValidationFailed) as caught:
        load_nca_pkcs12(data, "Qwerty12")
    assert caught.value.code == "bad_keystore_password"


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01\x03", b"not a keystore" * 10])
def test_garbage_is_a_bad_keystore(data: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        load_pkcs12(data, "Qwerty12")
    assert caught.value.code == "bad_keystore"


def test_truncated_keystore_is_a_bad_keystore() -> None:
    data = material.read("ncanode", "p12", "KEY_CEO_SIGN_REVOKED_2004.p12")
    with pytest.raises(BadRequest):
        load_pkcs12(data[: len(data) // 2], "Qwerty12")


def test_pkcs12_kdf_rfc7292_style_vector() -> None:
    # Known answer from OpenSSL's PKCS12_key_gen_uni (password "smeg", salt 0A58CF64530D823F, 1 iteration,
    # 3DES key), the vector used by OpenSSL's and BouncyCastle's PKCS#12 tests.
    password = "smeg".encode("utf-16-be") + b"\x00\x00"
    key = pkcs12_kdf("sha1", password, bytes.fromhex("0A58CF64530D823F"), 1, 1, 24)
    assert key.hex().upper() == "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3"


def test_modern_pbes2_keystore_from_pyca_opens() -> None:
    # PBES2 (PBKDF2-SHA256 + AES-256-CBC) with an HMAC-SHA-256 MAC: what current tools write.
    key = ec.generate_private_key(ec.SECP256R1())
    name = pyca_x509.Name([pyca_x509.NameAttribute(pyca_x509.NameOID.COMMON_NAME, "PBES2 test")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        pyca_x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    blob = pkcs12.serialize_key_and_certificates(
        b"t", key, cert, None, serialization.BestAvailableEncryption("пароль".encode())
    )
    contents = load_pkcs12(blob, "пароль")
    assert contents.certificates == [cert.public_bytes(serialization.Encoding.DER)]
    (pkcs8,) = contents.other_keys_pkcs8
    loaded = serialization.load_der_private_key(pkcs8, password=None)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    assert loaded.private_numbers() == key.private_numbers()
    with pytest.raises(ValidationFailed):
        load_pkcs12(blob, "пароль!")


# RFC 2268 §5 test vectors: (key, effective key bits, plaintext, ciphertext).
RFC2268_VECTORS = [
    ("0000000000000000", 63, "0000000000000000", "ebb773f993278eff"),
    ("ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"),
    ("3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"),
    ("88", 64, "0000000000000000", "61a8a244adacccf0"),
    ("88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"),
    ("88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"),
    ("88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"),
]


@pytest.mark.parametrize(("key", "bits", "plain", "cipher"), RFC2268_VECTORS)
def test_rc2_rfc2268_vectors(key: str, bits: int, plain: str, cipher: str) -> None:
    # One CBC block with a zero IV is one ECB block.
    assert rc2_decrypt_cbc(bytes.fromhex(key), bits, bytes(8), bytes.fromhex(cipher)).hex() == plain
