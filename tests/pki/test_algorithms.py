"""Signature/digest dispatch: published vectors, pyca-made signatures, malformed input never raises."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from asn1crypto import algos
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from authsvc.pki.algorithms import UnsupportedAlgorithm, hash_data, signature_digest_oid, verify_signature
from tests.pki.certmaker import gost_key

M1 = b"012345678901234567890123456789012345678901234567890123456789012"  # GOST R 34.11-2012 example 1
DIGEST_VECTORS = [
    ("sha1", b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
    ("2.16.840.1.101.3.4.2.1", b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("sha384", b"abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
    ("SHA-512", b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    # GOST 34.311-95 = R 34.11-94 with the Test S-box (KZ-PKI.md §2), bytes as pygost-style tools write them
    ("1.2.398.3.10.1.3.1", b"abc", "f3134348c44fb1b2a277729e2285ebb5cb5e0f29c975bc753b70497c06a4d51d"),
    # Streebog (GOST R 34.11-2012) example M1, output byte order (the standard prints the reverse)
    ("1.2.398.3.10.1.3.2", M1, "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"),
    ("1.2.398.3.10.1.3.3", M1, "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "expected"), DIGEST_VECTORS, ids=[v[0] for v in DIGEST_VECTORS])
def test_digest_vectors(name: str, data: bytes, expected: str) -> None:
    assert hash_data(name, data).hex() == expected


def _spki(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(
    ("oid", "hash_cls"),
    [("1.2.840.113549.1.1.5", hashes.SHA1), ("1.2.840.113549.1.1.11", hashes.SHA256),
     ("1.2.840.113549.1.1.12", hashes.SHA384), ("1.2.840.113549.1.1.13", hashes.SHA512)],
)  # fmt: skip
def test_rsa_pkcs1(rsa_private: rsa.RSAPrivateKey, oid: str, hash_cls: type[hashes.HashAlgorithm]) -> None:
    sig = rsa_private.sign(b"contract", padding.PKCS1v15(), hash_cls())
    assert verify_signature(_spki(rsa_private), oid, b"contract", sig)
    assert not verify_signature(_spki(rsa_private), oid, b"contracT", sig)
    assert not verify_signature(_spki(rsa_private), oid, b"contract", sig[:-1] + bytes([sig[-1] ^ 1]))


def test_cms_style_key_algorithm_plus_digest(rsa_private: rsa.RSAPrivateKey) -> None:
    sig = rsa_private.sign(b"x", padding.PKCS1v15(), hashes.SHA256())
    assert verify_signature(_spki(rsa_private), "1.2.840.113549.1.1.1", b"x", sig, digest_algorithm="sha256")
    assert not verify_signature(_spki(rsa_private), "1.2.840.113549.1.1.1", b"x", sig, digest_algorithm="sha384")
    with pytest.raises(UnsupportedAlgorithm):
        verify_signature(_spki(rsa_private), "1.2.840.113549.1.1.1", b"x", sig)


@pytest.mark.parametrize(("salt", "hash_name"), [(32, "sha256"), (20, "sha1"), (64, "sha512")])
def test_rsa_pss_parameters_from_algorithm_identifier(
    rsa_private: rsa.RSAPrivateKey, salt: int, hash_name: str
) -> None:
    hashers: dict[str, Callable[[], hashes.HashAlgorithm]] = {
        "sha256": hashes.SHA256,
        "sha1": hashes.SHA1,
        "sha512": hashes.SHA512,
    }
    hash_cls = hashers[hash_name]
    sig = rsa_private.sign(b"m", padding.PSS(padding.MGF1(hash_cls()), salt), hash_cls())
    params = {"hash_algorithm": {"algorithm": hash_name},
              "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": hash_name}},
              "salt_length": salt}  # fmt: skip
    algo = algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": params})
    assert verify_signature(_spki(rsa_private), algo, b"m", sig)
    assert signature_digest_oid(algo) == algos.DigestAlgorithmId(hash_name).dotted
    wrong_salt = algos.SignedDigestAlgorithm(
        {"algorithm": "rsassa_pss", "parameters": {**params, "salt_length": salt + 1}}
    )
    assert not verify_signature(_spki(rsa_private), wrong_salt, b"m", sig)


@pytest.mark.parametrize(
    ("curve", "oid", "hash_cls"),
    [(ec.SECP256R1(), "1.2.840.10045.4.3.2", hashes.SHA256), (ec.SECP384R1(), "1.2.840.10045.4.3.3", hashes.SHA384),
     (ec.SECP256R1(), "1.2.840.10045.4.3.4", hashes.SHA512)],
)  # fmt: skip
def test_ecdsa(curve: ec.EllipticCurve, oid: str, hash_cls: type[hashes.HashAlgorithm]) -> None:
    key = ec.generate_private_key(curve)
    sig = key.sign(b"m", ec.ECDSA(hash_cls()))
    assert verify_signature(_spki(key), oid, b"m", sig)
    assert verify_signature(_spki(key), "1.2.840.10045.2.1", b"m", sig, digest_algorithm=hash_cls().name)
    assert not verify_signature(_spki(key), oid, b"n", sig)


def test_gost_2015_via_gost_module() -> None:
    spki, sign, oid = gost_key()
    sig = sign(b"m")
    assert verify_signature(spki, oid, b"m", sig)
    # NCALayer CMS may name the key algorithm instead of the signature algorithm; the digest decides.
    assert verify_signature(spki, "1.2.398.3.10.1.1.2.2", b"m", sig, digest_algorithm="1.2.398.3.10.1.3.3")
    assert not verify_signature(spki, oid, b"n", sig)


def test_key_and_algorithm_mismatch_is_false(rsa_private: rsa.RSAPrivateKey) -> None:
    ec_spki = _spki(ec.generate_private_key(ec.SECP256R1()))
    sig = rsa_private.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    assert not verify_signature(ec_spki, "1.2.840.113549.1.1.11", b"m", sig)
    assert not verify_signature(_spki(rsa_private), "1.2.398.3.10.1.1.2.3.2", b"m", sig)


@pytest.mark.parametrize("key", [b"", b"\x30\x00", b"\x30\x03\x02\x01\x01", b"garbage" * 10])
def test_malformed_key_is_false(key: bytes) -> None:
    assert verify_signature(key, "1.2.840.113549.1.1.11", b"m", b"sig") is False
    assert verify_signature(key, "1.2.398.3.10.1.1.2.3.2", b"m", b"sig") is False


@pytest.mark.parametrize("oid", ["1.2.840.10040.4.3", "1.2.3.4", "1.2.840.113549.1.1.4"])
def test_unknown_algorithm_is_a_named_error(rsa_private: rsa.RSAPrivateKey, oid: str) -> None:
    with pytest.raises(UnsupportedAlgorithm) as caught:
        verify_signature(_spki(rsa_private), oid, b"m", b"s")
    assert caught.value.code == "unsupported_algorithm"
    with pytest.raises(UnsupportedAlgorithm):
        hash_data("md5", b"")
