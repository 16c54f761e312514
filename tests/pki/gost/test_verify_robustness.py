"""verify()/verify_digest() take untrusted bytes: any malformed input is False, never an exception.

Only an OID that is not a GOST signature algorithm raises (ValueError), so callers can route it.
"""

from __future__ import annotations

from functools import cache

import pytest
from asn1crypto import core
from hypothesis import given, settings
from hypothesis import strategies as st

from authsvc.pki.gost import (
    GostPrivateKey,
    generate_private_key,
    parse_public_key,
    public_key_info_der,
    sign,
    verify,
    verify_digest,
)
from tests.pki.gost import material

ALG_512 = "1.2.398.3.10.1.1.2.3.2"
ALG_2004 = "1.2.398.3.10.1.1.1.2"


@cache
def _key() -> tuple[GostPrivateKey, bytes, bytes]:
    key = generate_private_key("kz-gost2015-512")
    spki = public_key_info_der(key.public_key(), "kz-gost2015-512")
    return key, spki, sign(key, ALG_512, b"message")


@settings(max_examples=150, deadline=None)
@given(spki=st.binary(max_size=300), data=st.binary(max_size=64), signature=st.binary(max_size=140))
def test_random_inputs_are_rejected(spki: bytes, data: bytes, signature: bytes) -> None:
    assert verify(spki, ALG_512, data, signature) is False
    assert verify_digest(spki, ALG_2004, data, signature) is False


@settings(max_examples=60, deadline=None)
@given(signature=st.binary(min_size=128, max_size=128))
def test_random_signatures_of_the_right_size_are_rejected(signature: bytes) -> None:
    spki = _key()[1]
    assert verify(spki, ALG_512, b"message", signature) is False


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(min_value=0, max_value=10_000), which=st.sampled_from(["spki", "signature"]))
def test_truncated_key_or_signature_is_rejected(cut: int, which: str) -> None:
    spki, signature = _key()[1:]
    if which == "spki":
        spki = spki[: cut % len(spki)]
    else:
        signature = signature[: cut % len(signature)]
    assert verify(spki, ALG_512, b"message", signature) is False


@settings(max_examples=80, deadline=None)
@given(index=st.integers(min_value=0, max_value=10_000), bit=st.integers(min_value=0, max_value=7))
def test_any_flipped_bit_of_a_real_certificate_key_is_rejected(index: int, bit: int) -> None:
    # The NCA GOST-2015 CA key signed its leaf: a key with any bit changed must not verify it. The
    # digest-parameter OID is left alone: it only names the hash, the signature algorithm picks it.
    ca = material.certificate("ncanode", "ca", "nca_gost2015_test.cer")
    leaf = material.certificate("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.cert.pem")
    spki = bytearray(material.spki(ca))
    digest_param = core.ObjectIdentifier("1.2.398.3.10.1.3.3").dump()
    start = bytes(spki).index(digest_param)
    allowed = [i for i in range(len(spki)) if not start <= i < start + len(digest_param)]
    spki[allowed[index % len(allowed)]] ^= 1 << bit
    tbs = leaf["tbs_certificate"].dump()
    assert verify(bytes(spki), ALG_512, tbs, leaf["signature_value"].native) is False


def test_zero_and_out_of_range_signature_halves_are_rejected() -> None:
    key, spki, _sig = _key()
    q = key.curve.q
    for r, s in ((0, 1), (1, 0), (q, 1), (1, q)):
        blob = r.to_bytes(64, "little") + s.to_bytes(64, "little")
        assert verify(spki, ALG_512, b"message", blob) is False


def test_a_key_that_is_not_on_its_curve_is_rejected() -> None:
    spki, signature = _key()[1:]
    raw = bytearray(spki)
    raw[-1] ^= 1  # last byte of Y
    assert verify(bytes(raw), ALG_512, b"message", signature) is False
    with pytest.raises(ValueError, match="not a point"):
        parse_public_key(bytes(raw))


@pytest.mark.parametrize("oid", ["1.2.840.113549.1.1.11", "1.2.398.3.10.1.3.3", "", "garbage"])
def test_unknown_algorithm_raises_value_error(oid: str) -> None:
    spki, signature = _key()[1:]
    with pytest.raises(ValueError, match="not a GOST signature algorithm"):
        verify(spki, oid, b"message", signature)
    with pytest.raises(ValueError, match="not a GOST signature algorithm"):
        verify_digest(spki, oid, bytes(64), signature)


def test_a_valid_signature_still_verifies() -> None:
    # Guards the negative tests above against a verify() that rejects everything.
    spki, signature = _key()[1:]
    assert verify(spki, ALG_512, b"message", signature) is True


def test_key_encoding_is_read_strictly() -> None:
    # Real NCA GOST-2004 CA key: unused bits in the BIT STRING, or a parameter that is not an OID
    # (asn1crypto would skip an unknown optional element silently), make the key unreadable.
    ca = material.certificate("ncanode", "ca", "nca_gost_test.crt")
    spki = material.spki(ca)
    assert parse_public_key(spki).digest_param_oid == "1.2.398.3.10.1.3.1.1.0"
    unused = bytearray(spki)
    unused[spki.index(bytes.fromhex("034300")) + 2] = 1
    digest_param = core.ObjectIdentifier("1.2.398.3.10.1.3.1.1.0").dump()
    retagged = bytearray(spki)
    retagged[spki.index(digest_param)] = 0x4C  # [APPLICATION 12] instead of OBJECT IDENTIFIER
    for bad in (unused, retagged):
        with pytest.raises(ValueError):
            parse_public_key(bytes(bad))
