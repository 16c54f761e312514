"""GOST R 34.11-2012 "Streebog" hash, 256- and 512-bit (RFC 6986), on Python ints.

Byte order: the message is read as in every implementation that interoperates (OpenSSL's gost
engine, pygost, gostcrypto): 64-byte blocks from the start of the data, each a little-endian number,
and the digest is the little-endian encoding of the final state. RFC 6986 prints both messages and
digests as big-endian numbers, so its hex strings are the byte-reverse of ours.

Speed: S, P and L of one round fold into eight 256-entry tables of 64-bit words ("LPS tables"), so a
round is 64 lookups and XORs. That gives roughly 1 MB/s in CPython; the ~19 MB production GOST CRL
must therefore be verified once per download in the background (KZ-PKI.md §2), or through the
optional OpenSSL path in ``authsvc.pki.gost.fastpath``.
"""

from __future__ import annotations

# The S-box π (RFC 6986 §5.1; the same table as Kuznyechik's).
_PI = bytes.fromhex(
    "fceedd11cf6e3116fbc4fada23c5044de977f0db932e99ba1736f1bb14cd5fc1"
    "f918655ae25cef21811c3c428b018e4f058402aee36a8fa0060bed987fd4d31f"
    "eb342c51eac848abf22a68a2fd3aceccb5700e56080c7612bf7213479cb75d87"
    "15a19629107b9ac7f391786f9d9eb2b13275193dff358a7e6d54c680c3bd0d57"
    "dff524a93ea843c9d779d6f67c22b903e00fecde7a94b0bcdce828504e330a4a"
    "a79760731e0062441ab83882649f2641ad454692275e552f8ca3a57d69d5953b"
    "0758b34086ac1df730376be488d9e789e11b83494c3ff8fe8d53aa90cad88561"
    "207167a42d2b095bcb9b25d0bee56c5259a674d2e6f4b4c0d166afc2394b63b6"
)

# Rows A_0..A_63 of the linear map l (RFC 6986 §5.3): bit 63 of the input selects A_0.
_A = (
    0x8E20FAA72BA0B470, 0x47107DDD9B505A38, 0xAD08B0E0C3282D1C, 0xD8045870EF14980E,
    0x6C022C38F90A4C07, 0x3601161CF205268D, 0x1B8E0B0E798C13C8, 0x83478B07B2468764,
    0xA011D380818E8F40, 0x5086E740CE47C920, 0x2843FD2067ADEA10, 0x14AFF010BDD87508,
    0x0AD97808D06CB404, 0x05E23C0468365A02, 0x8C711E02341B2D01, 0x46B60F011A83988E,
    0x90DAB52A387AE76F, 0x486DD4151C3DFDB9, 0x24B86A840E90F0D2, 0x125C354207487869,
    0x092E94218D243CBA, 0x8A174A9EC8121E5D, 0x4585254F64090FA0, 0xACCC9CA9328A8950,
    0x9D4DF05D5F661451, 0xC0A878A0A1330AA6, 0x60543C50DE970553, 0x302A1E286FC58CA7,
    0x18150F14B9EC46DD, 0x0C84890AD27623E0, 0x0642CA05693B9F70, 0x0321658CBA93C138,
    0x86275DF09CE8AAA8, 0x439DA0784E745554, 0xAFC0503C273AA42A, 0xD960281E9D1D5215,
    0xE230140FC0802984, 0x71180A8960409A42, 0xB60C05CA30204D21, 0x5B068C651810A89E,
    0x456C34887A3805B9, 0xAC361A443D1C8CD2, 0x561B0D22900E4669, 0x2B838811480723BA,
    0x9BCF4486248D9F5D, 0xC3E9224312C8C1A0, 0xEFFA11AF0964EE50, 0xF97D86D98A327728,
    0xE4FA2054A80B329C, 0x727D102A548B194E, 0x39B008152ACB8227, 0x9258048415EB419D,
    0x492C024284FBAEC0, 0xAA16012142F35760, 0x550B8E9E21F7A530, 0xA48B474F9EF5DC18,
    0x70A6A56E2440598E, 0x3853DC371220A247, 0x1CA76E95091051AD, 0x0EDD37C48A08A6D8,
    0x07E095624504536C, 0x8D70C431AC02A736, 0xC83862965601DD1B, 0x641C314B2B8EE083,
)  # fmt: skip

# Round constants C_1..C_12 (RFC 6986 §5.4), as little-endian byte strings.
_C_HEX = (
    "0745a6f2596580dd234d74cc3674760515d360a4082a42a20169679291e07c4b"
    "fcc485758db84e7116d0452e43766a2f1f7c65c0812fcbebe9daca1eda5b08b1",
    "b79bb121700479e656cdcbd71ba2dd55caa70adbc261b55c5899d6126b17b59a"
    "3101b5160f5ed561982b230a72eafef3d7b5700f469de34f1a2f9da98ab5a36f",
    "b20aba0af5961e9931db7a8643f4b6c209db6260373ac9c1b19e3590e40fe2d3"
    "7b7b29b11475eaf28b1f9c525f5ef10635843d6a28fc390ac72fce2bacdc74f5",
    "2ed1e384bcbe0c22f137e893a1ea5334be0352933313b7d875d603ed822cd7a9"
    "3f355e68ad1c729d7d3c5c337e858e48dde4715da0e148f9d26615e8b3df1fef",
    "57fe6c7cfd581760f563eaa97ea2567a161a2723b700ffdfa3f53a254717cdbf"
    "bdff0f80d7359e354a1086161f1c157f6323a96c0c413f9a994747adac6bea4b",
    "6e7d64467a4068fa354f903672c571bfb6c6bec2661ff20ab4b79a1cb7a6facf"
    "c68ef09ab49a7f186ca44251f9c4662dc039307a3bc3a46fd9d33a1daeae4fae",
    "93d4143a4d568688f34a3ca24c45173504054a2883694706372c822dc5ab9209"
    "c9937a19333e47d3c987bfe6c7c69e39540924bffe86ac51ecc5aaee160ec7f4",
    "1ee702bfd40d7fa4d9a8515935c2ac362fc4a5d12b8dd16990069b92cb2b89f4"
    "9ac4db4d3b44b4891ede369c71f8b74e41416e0c02aae703a7c9934d425b1f9b",
    "db5a238351446172602a1fcb92dc380e549c07a69a8a2b7bb1ceb2db0b440a80"
    "84090de0b755d93c244289251b3a7d3ade5f16ecd89a4c949b223116545a8f37",
    "ed9c4598fbc7b474c3b63b15d1fa9836f452763b306c1e7a4b3369af0267e79f"
    "0361331b8ae1ff1fdb788aff1ce74189f3f3e4b248e52a38526f0580a6debeab",
    "1b2df381cda4ca6b5dd86fc04a59a2de986e477d1dcdbaefcab948eaef711d8a"
    "79668414218001206107abebbb6bfad894fe5a63cdc60230fb89c8efd09ecd7b",
    "20d71bf14a92bc48991bb2d9d517f4fa5228e188aaa41de786cc91189def805d"
    "9b9f2130d41220f8771ddfbc323ca4cd7ab14904b08013d2ba3116f167e78e37",
)
_C = tuple(int.from_bytes(bytes.fromhex(h), "little") for h in _C_HEX)

_MASK512 = (1 << 512) - 1
_IV256 = int.from_bytes(b"\x01" * 64, "little")


def _l(word: int) -> int:
    out = 0
    for bit in range(64):
        if word >> bit & 1:
            out ^= _A[63 - bit]
    return out


def _tables() -> tuple[tuple[int, ...], ...]:
    # After S and the byte transposition P, output word i takes byte i of every input word j and
    # places it at byte j; table j therefore maps a byte v to l(π(v) << 8j).
    return tuple(tuple(_l(_PI[v] << (8 * j)) for v in range(256)) for j in range(8))


_T = _tables()


def _lps(
    x: int,
    t0: tuple[int, ...] = _T[0],
    t1: tuple[int, ...] = _T[1],
    t2: tuple[int, ...] = _T[2],
    t3: tuple[int, ...] = _T[3],
    t4: tuple[int, ...] = _T[4],
    t5: tuple[int, ...] = _T[5],
    t6: tuple[int, ...] = _T[6],
    t7: tuple[int, ...] = _T[7],
) -> int:
    b = x.to_bytes(64, "little")
    return (
        (t0[b[0]] ^ t1[b[8]] ^ t2[b[16]] ^ t3[b[24]] ^ t4[b[32]] ^ t5[b[40]] ^ t6[b[48]] ^ t7[b[56]])
        | (t0[b[1]] ^ t1[b[9]] ^ t2[b[17]] ^ t3[b[25]] ^ t4[b[33]] ^ t5[b[41]] ^ t6[b[49]] ^ t7[b[57]]) << 64
        | (t0[b[2]] ^ t1[b[10]] ^ t2[b[18]] ^ t3[b[26]] ^ t4[b[34]] ^ t5[b[42]] ^ t6[b[50]] ^ t7[b[58]]) << 128
        | (t0[b[3]] ^ t1[b[11]] ^ t2[b[19]] ^ t3[b[27]] ^ t4[b[35]] ^ t5[b[43]] ^ t6[b[51]] ^ t7[b[59]]) << 192
        | (t0[b[4]] ^ t1[b[12]] ^ t2[b[20]] ^ t3[b[28]] ^ t4[b[36]] ^ t5[b[44]] ^ t6[b[52]] ^ t7[b[60]]) << 256
        | (t0[b[5]] ^ t1[b[13]] ^ t2[b[21]] ^ t3[b[29]] ^ t4[b[37]] ^ t5[b[45]] ^ t6[b[53]] ^ t7[b[61]]) << 320
        | (t0[b[6]] ^ t1[b[14]] ^ t2[b[22]] ^ t3[b[30]] ^ t4[b[38]] ^ t5[b[46]] ^ t6[b[54]] ^ t7[b[62]]) << 384
        | (t0[b[7]] ^ t1[b[15]] ^ t2[b[23]] ^ t3[b[31]] ^ t4[b[39]] ^ t5[b[47]] ^ t6[b[55]] ^ t7[b[63]]) << 448
    )


def _g(n: int, h: int, m: int) -> int:
    """The compression function g_N(h, m) = E(LPS(h ⊕ N), m) ⊕ h ⊕ m."""
    f = _lps
    k = f(h ^ n)
    t = m
    for c in _C:
        t = f(t ^ k)
        k = f(k ^ c)
    return t ^ k ^ h ^ m


class Streebog:
    """Incremental Streebog; ``digest_size`` is 32 or 64 bytes."""

    __slots__ = ("_buf", "_h", "_n", "_sigma", "digest_size")

    def __init__(self, digest_size: int = 64, data: bytes = b"") -> None:
        if digest_size not in (32, 64):
            raise ValueError("Streebog digest size must be 32 or 64 bytes")
        self.digest_size = digest_size
        self._h = _IV256 if digest_size == 32 else 0
        self._n = 0
        self._sigma = 0
        self._buf = b""
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        buf = self._buf + bytes(data) if self._buf else bytes(data)
        h, n, sigma = self._h, self._n, self._sigma
        g = _g
        full = len(buf) - len(buf) % 64
        for off in range(0, full, 64):
            m = int.from_bytes(buf[off : off + 64], "little")
            h = g(n, h, m)
            n = (n + 512) & _MASK512
            sigma = (sigma + m) & _MASK512
        self._h, self._n, self._sigma = h, n, sigma
        self._buf = buf[full:]

    def digest(self) -> bytes:
        tail = self._buf
        m = int.from_bytes(tail + b"\x01" + bytes(63 - len(tail)), "little")
        h = _g(self._n, self._h, m)
        n = (self._n + 8 * len(tail)) & _MASK512
        sigma = (self._sigma + m) & _MASK512
        h = _g(0, _g(0, h, n), sigma)
        out = h.to_bytes(64, "little")
        return out if self.digest_size == 64 else out[32:]


def streebog256(data: bytes) -> bytes:
    return Streebog(32, data).digest()


def streebog512(data: bytes) -> bytes:
    return Streebog(64, data).digest()
