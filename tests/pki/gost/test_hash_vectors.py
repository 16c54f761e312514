"""Published vectors for GOST R 34.11-94 (test parameters) and GOST R 34.11-2012 (Streebog).

RFC 5831 and RFC 6986 print messages and digests as big-endian numbers; our byte strings are the
little-endian encodings every interoperating implementation (and NCA) uses, so each printed value
is compared reversed. KZ-PKI.md §2 gives H("abc") in our order.
"""

from __future__ import annotations

import pytest

from authsvc.pki.gost import Gost94, Streebog, digest, gost3411_94, streebog256, streebog512
from authsvc.pki.gost.fastpath import set_openssl_fast_path, streebog256_fast, streebog512_fast

# (message, digest in NCA/pygost byte order) with the test parameter set (1.2.643.2.2.30.0).
GOST94_TEST_PARAMSET = [
    (b"", "ce85b99cc46752fffee35cab9a7b0278abb4c2d2055cff685af4912c49490f8d"),
    (b"a", "d42c539e367c66e9c88a801f6649349c21871b4344c6a573f849fdce62f314dd"),
    (b"abc", "f3134348c44fb1b2a277729e2285ebb5cb5e0f29c975bc753b70497c06a4d51d"),
    (b"message digest", "ad4434ecb18f2c99b60cbe59ec3d2469582b65273f48de72db2fde16a4889a4d"),
]

# The CryptoPro S-box (1.2.643.2.2.30.1), used by Russian GOST R 34.10-2001 only: must differ.
GOST94_CRYPTOPRO_PARAMSET = [
    (b"", "981e5f3ca30c841487830f84fb433e13ac1101569b9c13584ac483234cd656c0"),
    (b"abc", "b285056dbf18d7392d7677369524dd14747459ed8143997e163b2986f92fd42c"),
]

# RFC 5831 §7.3, hash values as the RFC prints them (byte-reversed with respect to ours).
RFC5831_PRINTED = [
    (
        b"This is message, length=32 bytes",
        "FAFF37A615A816691CFF3EF8B68CA247E09525F39F8119832EB81975D366C4B1",
    ),
    (
        b"Suppose the original message has length = 50 bytes",
        "0852F5623B89DD57AEB4781FE54DF14EEAFBC1350613763A0D770AA657BA1A47",
    ),
]

# RFC 6986 §10: M1 (63 bytes) and M2 (72 bytes of CP1251 text), printed big-endian.
M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M2_PRINTED = (
    "fbe2e5f0eee3c820fbeafaebef20fffbf0e1e0f0f520e0ed20e8ece0ebe5f0f2f120fff0eeec20f120faf2fee5e220"
    "2ce8f6f3ede220e8e6eee1e8f0f2d1202ce8f0f2e5e220e5d1"
)
M2 = bytes.fromhex(M2_PRINTED)[::-1]
RFC6986_PRINTED = [
    (
        M1,
        64,
        "486f64c1917879417fef082b3381a4e211c324f074654c38823a7b76f830ad00"
        "fa1fbae42b1285c0352f227524bc9ab16254288dd6863dccd5b9f54a1ad0541b",
    ),
    (M1, 32, "00557be5e584fd52a449b16b0251d05d27f94ab76cbaa6da890b59d8ef1e159d"),
    (
        M2,
        64,
        "28fbc9bada033b1460642bdcddb90c3fb3e56c497ccd0f62b8a2ad4935e85f03"
        "7613966de4ee00531ae60f3b5a47f8dae06915d5f2f194996fcabf2622e6881e",
    ),
    (M2, 32, "508f7e553c06501d749a66fc28c6cac0b005746d97537fa85d9e40904efed29d"),
]


def test_m2_is_the_igor_tale_in_cp1251() -> None:
    # Pins the RFC's reversed printing of messages, which the digest vectors rely on.
    assert M2.decode("cp1251") == "Се ветри, Стрибожи внуци, веютъ с моря стрелами на храбрыя плъкы Игоревы"


@pytest.mark.parametrize(("message", "expected"), GOST94_TEST_PARAMSET)
def test_gost94_test_paramset(message: bytes, expected: str) -> None:
    assert gost3411_94(message).hex() == expected


@pytest.mark.parametrize(("message", "expected"), GOST94_CRYPTOPRO_PARAMSET)
def test_gost94_cryptopro_paramset(message: bytes, expected: str) -> None:
    assert Gost94(message, sbox="cryptopro").digest().hex() == expected
    assert digest("1.2.643.2.2.9", message).hex() == expected


@pytest.mark.parametrize(("message", "printed"), RFC5831_PRINTED)
def test_gost94_rfc5831_examples(message: bytes, printed: str) -> None:
    assert gost3411_94(message)[::-1].hex() == printed.lower()


@pytest.mark.parametrize(("message", "size", "printed"), RFC6986_PRINTED)
def test_streebog_rfc6986_examples(message: bytes, size: int, printed: str) -> None:
    fn = streebog512 if size == 64 else streebog256
    assert fn(message)[::-1].hex() == printed


@pytest.mark.parametrize(("message", "size", "printed"), RFC6986_PRINTED)
def test_streebog_fast_path_agrees_with_the_vectors(message: bytes, size: int, printed: str) -> None:
    fn = streebog512_fast if size == 64 else streebog256_fast
    assert fn(message)[::-1].hex() == printed


@pytest.mark.parametrize(
    ("oid", "expected"),
    [
        ("1.2.398.3.10.1.3.1", gost3411_94(b"abc")),
        ("1.2.398.3.10.1.3.2", streebog256(b"abc")),
        ("1.2.398.3.10.1.3.3", streebog512(b"abc")),
        ("1.2.643.7.1.1.2.2", streebog256(b"abc")),
        ("1.2.643.7.1.1.2.3", streebog512(b"abc")),
        ("1.2.398.3.10.1.1.2.3.2", streebog512(b"abc")),  # a signature OID names its digest
    ],
)
def test_digest_by_oid(oid: str, expected: bytes) -> None:
    assert digest(oid, b"abc") == expected


def test_digest_rejects_unknown_oid() -> None:
    with pytest.raises(ValueError, match="not a GOST digest"):
        digest("2.16.840.1.101.3.4.2.1", b"abc")


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 63, 64, 65, 200])
def test_incremental_hashing_matches_one_shot(length: int) -> None:
    data = bytes((i * 37 + 11) % 256 for i in range(length))
    for cut in (0, length // 3, length):
        g = Gost94(data[:cut])
        g.update(data[cut:])
        assert g.digest() == gost3411_94(data)
        s = Streebog(64, data[:cut])
        s.update(data[cut:])
        assert s.digest() == streebog512(data)


def test_pure_and_openssl_paths_agree_on_multi_block_data() -> None:
    data = bytes(range(256)) * 9 + b"!"
    try:
        set_openssl_fast_path(False)
        pure = (streebog256_fast(data), streebog512_fast(data))
    finally:
        set_openssl_fast_path(True)
    assert (streebog256_fast(data), streebog512_fast(data)) == pure == (streebog256(data), streebog512(data))
