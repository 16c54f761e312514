"""GOST R 34.10 published examples (RFC 7091 appendix A = GOST R 34.10-2012 appendix A) and round trips."""

from __future__ import annotations

import pytest

from authsvc.pki.gost import (
    CURVES_BY_NAME,
    KEY_PROFILES,
    GostPublicKey,
    generate_private_key,
    parse_public_key,
    private_key_from_pkcs8,
    private_key_pkcs8_der,
    public_key_info_der,
    sign,
    sign_digest,
    verify,
    verify_digest,
)
from authsvc.pki.gost.curves import TEST_256, TEST_512, Curve
from authsvc.pki.gost.ec import public_point, sign_raw, verify_raw
from authsvc.pki.gost.keys import curve_for

# (curve, d, Qx, Qy, e, k, r, s), hexadecimal as printed in RFC 7091 appendix A.
RFC7091_EXAMPLES = [
    pytest.param(
        TEST_256,
        "7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28",
        "7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B",
        "26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA",
        "2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5",
        "77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3",
        "41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493",
        "01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40",
        id="example-1-256",
    ),
    pytest.param(
        TEST_512,
        "BA6048AADAE241BA40936D47756D7C93091A0E8514669700EE7508E508B10207"
        "2E8123B2200A0563322DAD2827E2714A2636B7BFD18AADFC62967821FA18DD4",
        "115DC5BC96760C7B48598D8AB9E740D4C4A85A65BE33C1815B5C320C854621DD"
        "5A515856D13314AF69BC5B924C8B4DDFF75C45415C1D9DD9DD33612CD530EFE1",
        "37C7C90CD40B0F5621DC3AC1B751CFA0E2634FA0503B3D52639F5D7FB72AFD61"
        "EA199441D943FFE7F0C70A2759A3CDB84C114E1F9339FDF27F35ECA93677BEEC",
        "3754F3CFACC9E0615C4F4A7C4D8DAB531B09B6F9C170C533A71D147035B0C591"
        "7184EE536593F4414339976C647C5D5A407ADEDB1D560C4FC6777D2972075B8C",
        "0359E7F4B1410FEACC570456C6801496946312120B39D019D455986E364F3658"
        "86748ED7A44B3E794434006011842286212273A6D14CF70EA3AF71BB1AE679F1",
        "2F86FA60A081091A23DD795E1E3C689EE512A3C82EE0DCC2643C78EEA8FCACD3"
        "5492558486B20F1C9EC197C90699850260C93BCBCD9C5C3317E19344E173AE36",
        "1081B394696FFE8E6585E7A9362D26B6325F56778AADBC081C0BFBE933D52FF5"
        "823CE288E8C4F362526080DF7F70CE406A6EEB1F56919CB92A9853BDE73E5B4A",
        id="example-2-512",
    ),
]


@pytest.mark.parametrize(("curve", "d", "qx", "qy", "e", "k", "r", "s"), RFC7091_EXAMPLES)
def test_rfc7091_example(curve: Curve, d: str, qx: str, qy: str, e: str, k: str, r: str, s: str) -> None:
    d_, e_, k_, r_, s_ = (int(v, 16) for v in (d, e, k, r, s))
    q = public_point(curve, d_)
    assert q == (int(qx, 16), int(qy, 16))
    assert sign_raw(curve, d_, e_, k_) == (r_, s_)
    assert verify_raw(curve, q, e_, r_, s_)
    assert not verify_raw(curve, q, e_ + 1, r_, s_)
    assert not verify_raw(curve, q, e_, r_, s_ ^ 1)


@pytest.mark.parametrize("curve", list(CURVES_BY_NAME.values()), ids=lambda c: c.name)
def test_round_trip_on_every_curve(curve: Curve) -> None:
    d = (0x1234_5678_9ABC_DEF0 * 0xF00D_FACE_CAFE_BEEF**5) % curve.q
    q = public_point(curve, d)
    e = int.from_bytes(bytes(range(curve.size)), "little")
    r, s = sign_raw(curve, d, e, (d * 7 + 3) % curve.q) or (0, 0)
    assert verify_raw(curve, q, e, r, s)
    assert not verify_raw(curve, q, e ^ 4, r, s)
    other = public_point(curve, d + 1)
    assert not verify_raw(curve, other, e, r, s)


SIGNATURE_PROFILES = [
    ("kz-gost2004", "1.2.398.3.10.1.1.1.2"),
    ("kz-gost2004", "1.3.6.1.4.1.6801.1.2.2"),
    ("kz-gost2015-256", "1.2.398.3.10.1.1.2.3.1"),
    ("kz-gost2015-512", "1.2.398.3.10.1.1.2.3.2"),
    ("tc26-256-a", "1.2.643.7.1.1.3.2"),
    ("tc26-512-a", "1.2.643.7.1.1.3.3"),
    ("cryptopro-2001-a", "1.2.643.2.2.3"),
]


@pytest.mark.parametrize(("profile", "algorithm"), SIGNATURE_PROFILES)
def test_public_api_round_trip(profile: str, algorithm: str) -> None:
    key = generate_private_key(profile)
    spki = public_key_info_der(key.public_key(), profile)
    assert parse_public_key(spki).point == key.public_key().point
    signature = sign(key, algorithm, b"authsvc")
    assert len(signature) == 2 * key.curve.size
    assert verify(spki, algorithm, b"authsvc", signature)
    assert not verify(spki, algorithm, b"authsvC", signature)
    for index in (0, len(signature) // 2, -1):
        flipped = bytearray(signature)
        flipped[index] ^= 0x80
        assert not verify(spki, algorithm, b"authsvc", bytes(flipped))


def test_signing_is_deterministic_unless_randomized() -> None:
    key = generate_private_key("kz-gost2015-512")
    spki = public_key_info_der(key.public_key(), "kz-gost2015-512")
    algorithm = "1.2.398.3.10.1.1.2.3.2"
    digest = bytes(64)
    first = sign_digest(key, algorithm, digest)
    assert sign_digest(key, algorithm, digest) == first
    randomized = sign_digest(key, algorithm, digest, randomized=True)
    assert randomized != first
    assert verify_digest(spki, algorithm, digest, first)
    assert verify_digest(spki, algorithm, digest, randomized)


def test_kazakh_and_rfc9215_signature_orders_are_byte_reverses() -> None:
    # Same key, same digest, same nonce: RFC 9215's s‖r big-endian is the Kazakh r‖s little-endian
    # reversed (KZ-PKI.md §2).
    key = generate_private_key("kz-gost2015-512")
    kazakh = sign_digest(key, "1.2.398.3.10.1.1.2.3.2", bytes(range(64)))
    russian = sign_digest(key, "1.2.643.7.1.1.3.3", bytes(range(64)))
    assert russian == kazakh[::-1]


def test_a_512_bit_signature_does_not_verify_as_256_bit_algorithm() -> None:
    key = generate_private_key("kz-gost2015-512")
    spki = public_key_info_der(key.public_key(), "kz-gost2015-512")
    signature = sign(key, "1.2.398.3.10.1.1.2.3.2", b"x")
    assert not verify(spki, "1.2.398.3.10.1.1.2.3.1", b"x", signature)
    with pytest.raises(ValueError, match="needs a 256-bit key"):
        sign(key, "1.2.398.3.10.1.1.2.3.1", b"x")


@pytest.mark.parametrize("profile", sorted(KEY_PROFILES))
def test_profiles_name_a_curve(profile: str) -> None:
    curve, chosen = curve_for(profile)
    assert chosen == KEY_PROFILES[profile]
    assert curve.contains(curve.gx, curve.gy)


def test_profile_for_another_curve_is_refused() -> None:
    key = generate_private_key("kz-gost2004")
    with pytest.raises(ValueError, match="another curve"):
        public_key_info_der(key.public_key(), "kz-gost2015-512")


def test_a_point_outside_the_prime_order_subgroup_is_refused() -> None:
    # tc26 256 A has cofactor 4: three curve points in four lie outside the group of order q, and a
    # key there must not be accepted (the subgroup is what the signature scheme's security rests on).
    curve = CURVES_BY_NAME["id-tc26-gost-3410-2012-256-paramSetA"]

    def spki_of(point: tuple[int, int]) -> bytes:
        key = GostPublicKey(curve, point, "1.2.398.3.10.1.1.2.1", "1.2.398.3.10.1.1.2.1.1")
        return public_key_info_der(key, "kz-gost2015-256")

    outcomes = []
    for x in range(2, 80):
        rhs = (x**3 + curve.a * x + curve.b) % curve.p
        y = pow(rhs, (curve.p + 1) // 4, curve.p)  # p ≡ 3 (mod 4)
        if y * y % curve.p == rhs:
            try:
                parse_public_key(spki_of((x, y)))
                outcomes.append("accepted")
            except ValueError as exc:
                assert "subgroup" in str(exc)
                outcomes.append("refused")
    assert outcomes.count("refused") >= 5
    # Multiples of the generator are in the subgroup by construction and always pass.
    for k in (1, 2, 12345):
        assert parse_public_key(spki_of(public_point(curve, k))).point == public_point(curve, k)


@pytest.mark.parametrize("profile", ["kz-gost2004", "kz-gost2015-512", "kz-gost2015-256"])
def test_private_key_pkcs8_round_trip(profile: str) -> None:
    key = generate_private_key(profile)
    der = private_key_pkcs8_der(key)
    again = private_key_from_pkcs8(der)
    assert (again.d, again.curve, again.profile) == (key.d, key.curve, key.profile)
