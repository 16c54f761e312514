"""The C verifier (`authsvc.pki.gost.native`) gives the reference arithmetic's verdict on every GOST signature.

The same sources as the engine's differential test (`test_engine_differential.py`): every GOST signature in
the real NCA fixtures, the RFC 7091 examples, random keys, messages and bit-flipped signatures drawn by
hypothesis on every curve of `curves` (the three Kazakh ones with more examples), plus the corners a
verifier gets wrong: r or s out of range, a sum that is the point at infinity, a key off the curve, a
digest ≡ 0 (mod q), and an x coordinate that is r + q. Each verdict is the C path's own
(`verify_native`, which must answer, not hand on) against `ec.verify_raw`; the public `verify` is checked
with the C path on and off. R-7.1, R-12.1.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authsvc.pki.gost import digest, native_curves, parse_public_key, set_native_enabled, verify
from authsvc.pki.gost import oids as gost_oids
from authsvc.pki.gost.curves import CRYPTOPRO_A, CURVES_BY_NAME, TC26_256_A, TC26_512_A, Curve
from authsvc.pki.gost.ec import public_point, sign_raw, verify_raw
from authsvc.pki.gost.kz import _decode_signature
from authsvc.pki.gost.native import verify_native
from tests.pki.gost import material
from tests.pki.gost.test_signature_vectors import RFC7091_EXAMPLES


@pytest.fixture(autouse=True)
def _native_required() -> None:
    # pip install -e builds the extension (pyproject.toml ext-modules): its absence is a broken install here.
    assert set(CURVES_BY_NAME) == native_curves()


def _same(curve: Curve, point: tuple[int, int], e: int, r: int, s: int) -> bool:
    by_c = verify_native(curve, point, e, r, s)
    assert by_c is not None, "the C path must judge an admitted curve"
    expected = verify_raw(curve, point, e, r, s)
    assert by_c is expected
    return expected


def _signed_verdict(spki: bytes, algorithm: str, data: bytes, signature: bytes) -> bool:
    key = parse_public_key(spki)
    alg = gost_oids.SIGNATURE_ALGORITHMS[algorithm]
    rs = _decode_signature(alg, signature)
    assert rs is not None
    verdict = _same(key.curve, key.point, int.from_bytes(digest(alg.digest_oid, data), "little"), *rs)
    set_native_enabled(False)
    try:
        assert verify(spki, algorithm, data, signature) is verdict
    finally:
        set_native_enabled(True)
    for _ in range(2):  # the first meets the key (the engine judges), the second has its table
        assert verify(spki, algorithm, data, signature) is verdict
    return verdict


@pytest.mark.parametrize("signed", material.gost_signatures(), ids=lambda s: s.where)
def test_every_fixture_signature(signed: material.Signed) -> None:
    assert _signed_verdict(signed.spki, signed.algorithm, signed.data, signed.signature)
    assert not _signed_verdict(signed.spki, signed.algorithm, material.flip(signed.data, -1), signed.signature)
    for index in (0, len(signed.signature) // 2, -1):
        flipped = material.flip(signed.signature, index)
        key, alg = parse_public_key(signed.spki), gost_oids.SIGNATURE_ALGORITHMS[signed.algorithm]
        r, s = _decode_signature(alg, flipped) or (0, 0)
        if 0 < r < key.curve.q and 0 < s < key.curve.q:
            assert not _signed_verdict(signed.spki, signed.algorithm, signed.data, flipped)
        else:
            assert verify_native(key.curve, key.point, 1, r, s) is False


@pytest.mark.parametrize(("curve", "d", "qx", "qy", "e", "k", "r", "s"), RFC7091_EXAMPLES)
def test_rfc7091_examples(curve: Curve, d: str, qx: str, qy: str, e: str, k: str, r: str, s: str) -> None:
    del d, k
    point, e_, r_, s_ = (int(qx, 16), int(qy, 16)), int(e, 16), int(r, 16), int(s, 16)
    assert _same(curve, point, e_, r_, s_)
    assert not _same(curve, point, e_ + 1, r_, s_)
    assert not _same(curve, point, e_, r_, s_ ^ 1)
    assert not _same(curve, point, e_, r_ ^ (1 << 200), s_)


_CURVES = sorted(CURVES_BY_NAME.values(), key=lambda c: c.name)


@pytest.mark.parametrize("curve", _CURVES, ids=lambda c: c.name)
def test_out_of_range_r_and_s_and_keys_off_the_curve_are_refused(curve: Curve) -> None:
    d = 0xC0FFEE
    point = public_point(curve, d)
    r, s = sign_raw(curve, d, 12345, 0x1234567) or (0, 0)
    assert _same(curve, point, 12345, r, s)
    q = curve.q
    for rr, ss in ((q, s), (r, q), (0, s), (r, 0), (q + r, s), (r, q + s), (-r, s)):
        assert verify_native(curve, point, 12345, rr, ss) is False
    for off in ((point[0], (point[1] + 1) % curve.p), (point[0] + curve.p, point[1]), (0, 0)):
        assert verify_native(curve, off, 12345, r, s) is False
        assert verify_raw(curve, off, 12345, r, s) is False


@pytest.mark.parametrize("curve", _CURVES, ids=lambda c: c.name)
def test_a_sum_at_infinity_and_a_digest_zero_mod_q(curve: Curve) -> None:
    # Key G (d = 1) and s = r: z1 G + z2 Q = (s - r)/e G is the point at infinity, never a valid signature.
    g = (curve.gx, curve.gy)
    for r in (1, 2, curve.q - 1, 0xBEEF):
        assert not _same(curve, g, 777, r, r)
    # e ≡ 0 (mod q) is read as 1 (the standard).
    d = 0xC0FFEE % curve.q
    point = public_point(curve, d)
    r, s = sign_raw(curve, d, 1, 0x1234567) or (0, 0)
    for e in (curve.q, 1, 0):
        assert _same(curve, point, e, r, s)


@pytest.mark.parametrize("curve", [c for c in _CURVES if c.cofactor == 4], ids=lambda c: c.name)
def test_an_x_coordinate_above_q_is_compared_mod_q(curve: Curve) -> None:
    # On the cofactor-4 curves q ≈ p/4, so x(kG) is often in [q, p) and r = x mod q ≠ x: the C path
    # compares X with (r + j q) Z² for every r + j q < p.
    d = 0xABCDEF
    point = public_point(curve, d)
    ks = [k for k in range(2, 40) if public_point(curve, k)[0] >= curve.q][:3]
    assert ks
    for k in ks:
        rs = sign_raw(curve, d, 99, k)
        assert rs is not None and rs[0] != public_point(curve, k)[0]
        assert _same(curve, point, 99, *rs)
        assert not _same(curve, point, 100, *rs)


def test_a_first_seen_key_is_deferred_when_asked_and_judged_the_second_time() -> None:
    curve = TC26_512_A
    d = 0x5EED
    point = public_point(curve, d)
    r, s = sign_raw(curve, d, 4242, 0x77) or (0, 0)
    assert verify_native(curve, point, 4242, r, s, defer_first=True) is None
    assert verify_native(curve, point, 4242, r, s, defer_first=True) is True
    assert verify_native(curve, point, 4243, r, s, defer_first=True) is False


# Random keys, digests, nonces and one flipped bit of e, r and s per example, on every curve; the Kazakh
# curves get more (that a flipped valid signature fails is the fixtures' and RFC examples' test above). AUTHSVC_GOST_DIFF_SCALE=10 gives ten times as many.
_SCALE = max(1, int(os.environ.get("AUTHSVC_GOST_DIFF_SCALE", "1")))
_KAZAKH = {CRYPTOPRO_A.name: 150, TC26_256_A.name: 110, TC26_512_A.name: 60}


@pytest.mark.parametrize("curve", _CURVES, ids=lambda c: c.name)
def test_random_keys_digests_and_flipped_signatures(curve: Curve) -> None:
    @settings(max_examples=_KAZAKH.get(curve.name, 15) * _SCALE, deadline=None, derandomize=True)
    @given(
        d=st.integers(min_value=1, max_value=curve.q - 1),
        e=st.integers(min_value=0, max_value=(1 << (8 * curve.size)) - 1),
        k=st.integers(min_value=1, max_value=curve.q - 1),
        bit=st.integers(min_value=0, max_value=8 * curve.size - 1),
    )
    def check(d: int, e: int, k: int, bit: int) -> None:
        rs = sign_raw(curve, d, e, k)
        if rs is None:
            return
        point = public_point(curve, d)
        r, s = rs
        assert _same(curve, point, e, r, s)
        # Agreement only: hypothesis draws degenerate keys (d = 1: Q = G) where a changed value may verify too.
        _same(curve, point, e ^ (1 << bit), r, s)
        for rr, ss in ((r ^ (1 << bit), s), (r, s ^ (1 << bit))):
            if 0 < rr < curve.q and 0 < ss < curve.q:
                _same(curve, point, e, rr, ss)
            else:
                assert verify_native(curve, point, e, rr, ss) is False

    check()
