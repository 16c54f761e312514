"""The gost engine path and the pure-Python path give the same verdict on every GOST signature (issue 17).

Three sources: every GOST signature in the real NCA fixtures (certificates, CRLs, CMS signers, the
time-stamp token, OCSP responses and their responder certificates), the RFC 7091 examples, and random
keys, messages and bit-flipped signatures drawn by hypothesis on the curves NCA uses. Each case is
compared twice: the engine's own verdict (`verify_digest_engine`, which must answer, not fall back)
against the reference arithmetic (`ec.verify_raw`), and the public `verify` with the engine on against
`verify` with it off (hashing, byte orders and range checks included). R-7.1, R-12.1.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authsvc.pki.algorithms import verify_signature
from authsvc.pki.gost import (
    digest,
    engine_curves,
    parse_public_key,
    public_key_info_der,
    set_engine_enabled,
    set_native_enabled,
    verify,
)
from authsvc.pki.gost import oids as gost_oids
from authsvc.pki.gost.curves import CRYPTOPRO_A, TC26_256_A, TC26_512_A, TEST_256, TEST_512, Curve
from authsvc.pki.gost.ec import public_point, sign_raw, verify_raw
from authsvc.pki.gost.engine import verify_digest_engine
from authsvc.pki.gost.keys import GostPrivateKey, curve_for
from authsvc.pki.gost.kz import _decode_signature, sign_digest
from tests.pki.gost import material
from tests.pki.gost.test_signature_vectors import RFC7091_EXAMPLES


@pytest.fixture(autouse=True)
def _engine_required() -> None:
    # scripts/install.sh installs libengine-gost-openssl: its absence is a broken machine, not a skip.
    assert {CRYPTOPRO_A.name, TC26_256_A.name, TC26_512_A.name} <= engine_curves()


def _python_verify(spki: bytes, algorithm: str, data: bytes, signature: bytes) -> bool:
    set_engine_enabled(False)
    set_native_enabled(False)  # the C verifier has its own differential test (test_native_differential.py)
    try:
        return verify(spki, algorithm, data, signature)
    finally:
        set_engine_enabled(True)
        set_native_enabled(True)


def _same_verdict(spki: bytes, algorithm: str, data: bytes, signature: bytes) -> bool:
    """Assert the paths agree, the engine having judged itself when r and s are in range; the verdict."""
    key = parse_public_key(spki)
    alg = gost_oids.SIGNATURE_ALGORITHMS[algorithm]
    rs = _decode_signature(alg, signature)
    python_verdict = _python_verify(spki, algorithm, data, signature)
    if rs is not None and 0 < rs[0] < key.curve.q and 0 < rs[1] < key.curve.q:
        by_engine = verify_digest_engine(key.curve, key.point, digest(alg.digest_oid, data), *rs)
        assert by_engine is not None, "the engine must judge an admitted curve"
        assert by_engine == python_verdict
    assert verify(spki, algorithm, data, signature) == python_verdict
    return python_verdict


@pytest.mark.parametrize("signed", material.gost_signatures(), ids=lambda s: s.where)
def test_every_fixture_signature(signed: material.Signed) -> None:
    assert _same_verdict(signed.spki, signed.algorithm, signed.data, signed.signature)
    assert not _same_verdict(signed.spki, signed.algorithm, material.flip(signed.data, -1), signed.signature)
    for index in (0, len(signed.signature) // 2, -1):
        assert not _same_verdict(signed.spki, signed.algorithm, signed.data, material.flip(signed.signature, index))


def test_the_fixtures_cover_both_kazakh_generations_and_every_structure() -> None:
    signatures = material.gost_signatures()
    assert {s.algorithm for s in signatures} == {"1.2.398.3.10.1.1.1.2", "1.2.398.3.10.1.1.2.3.2"}
    assert {s.where.split()[0] for s in signatures} == {"cert", "crl", "cms", "ocsp"}
    assert any("tsp_token" in s.where for s in signatures)


@pytest.mark.parametrize(("curve", "d", "qx", "qy", "e", "k", "r", "s"), RFC7091_EXAMPLES)
def test_rfc7091_examples(curve: Curve, d: str, qx: str, qy: str, e: str, k: str, r: str, s: str) -> None:
    del d, k
    point, e_, r_, s_ = (int(qx, 16), int(qy, 16)), int(e, 16), int(r, 16), int(s, 16)
    for ee, rr, ss, expected in ((e_, r_, s_, True), (e_ + 1, r_, s_, False), (e_, r_, s_ ^ 1, False)):
        by_engine = verify_digest_engine(curve, point, ee.to_bytes(curve.size, "little"), rr, ss)
        assert by_engine is expected
        assert verify_raw(curve, point, ee, rr, ss) is expected


def test_digest_zero_mod_q_is_read_as_one() -> None:
    # e ≡ 0 (mod q) becomes 1 in the standard: the engine must agree on that corner.
    for curve in (TEST_256, CRYPTOPRO_A, TC26_512_A, TEST_512):
        d = 0xC0FFEE % curve.q
        point = public_point(curve, d)
        r, s = sign_raw(curve, d, 1, 0x1234567) or (0, 0)
        for e in (curve.q, 1) if 2 * curve.q >= 1 << (8 * curve.size) else (curve.q, 2 * curve.q, 1):
            e_bytes = e.to_bytes(curve.size, "little")
            assert verify_digest_engine(curve, point, e_bytes, r, s) is verify_raw(curve, point, e, r, s) is True


@pytest.mark.parametrize("profile", ["kz-gost2004", "kz-gost2015-512"])
def test_out_of_range_r_and_s_are_refused_on_both_paths(profile: str) -> None:
    curve, _ = curve_for(profile)
    spki = public_key_info_der(GostPrivateKey(curve, 5, gost_oids.KEY_PROFILES[profile]).public_key(), profile)
    n, q = curve.size, curve.q
    algorithm = gost_oids.KZ_GOST2004_SIGNATURE if profile == "kz-gost2004" else gost_oids.KZ_GOST2015_512_SIGNATURE
    for r, s in ((q, 1), (1, q), (0, 1), (1, 0), (q + 1, 1)):
        if max(r, s).bit_length() > 8 * n:
            continue
        assert not _same_verdict(spki, algorithm, b"data", r.to_bytes(n, "little") + s.to_bytes(n, "little"))


# Random keys on the three Kazakh curves (GOST 34.310-2004 on CryptoPro-A, GOST 2015 256 and 512), plus
# the RFC 9215 wire order on 512; three verdicts per example (valid, signature bit flipped, message bit
# flipped). The default (~950 verdicts) runs in ~15 s; AUTHSVC_GOST_DIFF_SCALE=10 gives ~9,500.
_SCALE = max(1, int(os.environ.get("AUTHSVC_GOST_DIFF_SCALE", "1")))
_CASES = [
    ("kz-gost2004", gost_oids.KZ_GOST2004_SIGNATURE, 150),
    ("kz-gost2015-256", gost_oids.KZ_GOST2015_256_SIGNATURE, 110),
    ("kz-gost2015-512", gost_oids.KZ_GOST2015_512_SIGNATURE, 40),
    ("tc26-512-a", gost_oids.TC26_512_SIGNATURE, 15),
]


@pytest.mark.parametrize(("profile", "algorithm", "examples"), _CASES, ids=[c[0] for c in _CASES])
def test_random_keys_messages_and_flipped_signatures(profile: str, algorithm: str, examples: int) -> None:
    curve, key_profile = curve_for(profile)

    @settings(max_examples=examples * _SCALE, deadline=None, derandomize=True)
    @given(
        d=st.integers(min_value=1, max_value=curve.q - 1),
        message=st.binary(max_size=300),
        bit=st.integers(min_value=0, max_value=16 * curve.size - 1),
        message_bit=st.integers(min_value=0, max_value=2399),
    )
    def check(d: int, message: bytes, bit: int, message_bit: int) -> None:
        key = GostPrivateKey(curve, d, key_profile)
        spki = public_key_info_der(key.public_key(), profile)
        signature = sign_digest(key, algorithm, digest(algorithm, message))
        assert _same_verdict(spki, algorithm, message, signature)
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert not _same_verdict(spki, algorithm, message, bytes(flipped))
        if message:
            changed = bytearray(message)
            changed[(message_bit // 8) % len(message)] ^= 1 << (message_bit % 8)
            assert not _same_verdict(spki, algorithm, bytes(changed), signature)

    check()


@pytest.mark.parametrize(
    ("profile", "algorithm"),
    [
        ("kz-gost2004", gost_oids.KZ_GOST2004_SIGNATURE),
        ("kz-gost2015-256", gost_oids.KZ_GOST2015_256_SIGNATURE),
        ("kz-gost2015-512", gost_oids.KZ_GOST2015_512_SIGNATURE),
    ],
)
def test_the_service_dispatch_verifies_every_kazakh_key_size(profile: str, algorithm: str) -> None:
    """`authsvc.pki.algorithms` (what CMS, certificates, CRLs and OCSP call) knows the 256-bit GOST 2015 key too."""
    key = GostPrivateKey(curve_for(profile)[0], 0xBADC0DE, gost_oids.KEY_PROFILES[profile])
    spki = public_key_info_der(key.public_key(), profile)
    signature = sign_digest(key, algorithm, digest(algorithm, b"contract"))
    assert verify_signature(spki, algorithm, b"contract", signature)
    assert not verify_signature(spki, algorithm, b"contract", material.flip(signature, 1))
    # A CMS signer may name the key algorithm instead; the digest then picks the mechanism.
    key_oid, digest_oid = gost_oids.KEY_PROFILES[profile].key_oid, gost_oids.SIGNATURE_ALGORITHMS[algorithm].digest_oid
    assert verify_signature(spki, key_oid, b"contract", signature, digest_oid)
