"""GOST R 34.11-94 hash with the **Test** parameter set (S-box 1.2.643.2.2.30.0), or CryptoPro's.

Kazakh GOST 34.311-95 is this function with the test S-box of GOST R 34.11-94's appendix, not the
CryptoPro S-box (1.2.643.2.2.30.1) that Russian PKIs and OpenSSL's md_gost94 use (KZ-PKI.md §2); the
CryptoPro variant is here only for Russian GOST R 34.10-2001 signatures. Blocks are 32-byte
little-endian numbers taken from the start of the data; the digest is the little-endian encoding of
the final state, the order pygost and NCA's signatures use (RFC 5831 and ``gostsum -t`` print it
reversed).

The step function follows GOST R 34.11-94 §6-§8: key generation (A, P, C3), four GOST 28147-89
encryptions, then the ψ shuffles H' = ψ⁶¹(H ⊕ ψ(M ⊕ ψ¹²(S))).
"""

from __future__ import annotations

import functools
import operator
import struct

# GOST 28147-89 S-boxes; row i substitutes bits 4i..4i+3.
_TEST_SBOX = (
    (4, 10, 9, 2, 13, 8, 0, 14, 6, 11, 1, 12, 7, 15, 5, 3),
    (14, 11, 4, 12, 6, 13, 15, 10, 2, 3, 8, 1, 0, 7, 5, 9),
    (5, 8, 1, 13, 10, 3, 4, 2, 14, 15, 12, 7, 6, 0, 9, 11),
    (7, 13, 10, 1, 0, 8, 9, 15, 14, 4, 6, 12, 11, 2, 5, 3),
    (6, 12, 7, 1, 5, 15, 13, 8, 4, 10, 9, 14, 0, 3, 11, 2),
    (4, 11, 10, 0, 7, 2, 1, 13, 3, 6, 8, 5, 9, 12, 15, 14),
    (13, 11, 4, 1, 3, 15, 5, 9, 0, 10, 14, 7, 6, 8, 2, 12),
    (1, 15, 13, 0, 5, 7, 10, 4, 9, 2, 3, 14, 6, 11, 8, 12),
)
_CRYPTOPRO_SBOX = (
    (10, 4, 5, 6, 8, 1, 3, 7, 13, 12, 14, 0, 9, 2, 11, 15),
    (5, 15, 4, 0, 2, 13, 11, 9, 1, 7, 6, 3, 12, 14, 10, 8),
    (7, 15, 12, 14, 9, 4, 1, 0, 3, 11, 5, 2, 6, 10, 8, 13),
    (4, 10, 7, 12, 0, 15, 2, 8, 14, 1, 6, 5, 13, 11, 9, 3),
    (7, 6, 4, 11, 9, 12, 2, 10, 1, 8, 0, 14, 15, 13, 3, 5),
    (7, 6, 2, 4, 13, 9, 15, 0, 10, 1, 5, 11, 8, 14, 12, 3),
    (13, 14, 4, 1, 7, 0, 5, 10, 3, 12, 8, 15, 6, 2, 9, 11),
    (1, 3, 10, 9, 5, 11, 4, 15, 8, 6, 7, 14, 13, 0, 2, 12),
)

_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1
_M256 = (1 << 256) - 1
_C3 = 0xFF00FFFF000000FFFF0000FF00FFFF0000FF00FF00FF00FFFF00FF00FF00FF00


_Tables = tuple[tuple[int, ...], tuple[int, ...]]


def _round_tables(sbox: tuple[tuple[int, ...], ...]) -> _Tables:
    """The round function (eight 4-bit S-boxes, then rotate left by 11) as two 16-bit tables.

    Rotation distributes over OR of disjoint bit fields, so each 16-bit half of the input maps
    through one table to its rotated share; 2 x 65536 entries cost ~5 MB and halve a round's work.
    """

    def rotl11(x: int) -> int:
        return ((x << 11) | (x >> 21)) & _M32

    by_byte = [
        [rotl11((sbox[2 * i][v & 15] | sbox[2 * i + 1][v >> 4] << 4) << (8 * i)) for v in range(256)] for i in range(4)
    ]
    low = tuple(lo | hi for hi in by_byte[1] for lo in by_byte[0])
    high = tuple(lo | hi for hi in by_byte[3] for lo in by_byte[2])
    return low, high


_SBOXES = {"test": _TEST_SBOX, "cryptopro": _CRYPTOPRO_SBOX}


@functools.cache
def _tables(sbox: str) -> _Tables:
    return _round_tables(_SBOXES[sbox])


def _encrypt(tables: _Tables, k: tuple[int, ...], block: int) -> int:
    """GOST 28147-89 ECB encryption of one 64-bit block (little-endian halves n1 | n2 << 32)."""
    low, high = tables
    n1, n2 = block & _M32, block >> 32
    for x in k * 3 + k[::-1]:
        t = (n1 + x) & _M32
        n1, n2 = n2 ^ low[t & 0xFFFF] ^ high[t >> 16], n1
    # The last round does not swap halves: undo the loop's final swap.
    return n2 | n1 << 32


def _a(y: int) -> int:
    return (y >> 64) | (((y ^ (y >> 64)) & _M64) << 192)


# The standard's φ: byte k of 64-bit word i moves to position i + 4k.
_PHI = operator.itemgetter(*(8 * i + k for k in range(8) for i in range(4)))
_WORDS = struct.Struct("<8I")


def _p(w: int) -> tuple[int, ...]:
    """P(W) as the eight little-endian 32-bit subkeys GOST 28147-89 takes."""
    return _WORDS.unpack(bytes(_PHI(w.to_bytes(32, "little"))))


def _psi(y: int, times: int) -> int:
    for _ in range(times):
        x = (y ^ (y >> 16) ^ (y >> 32) ^ (y >> 48) ^ (y >> 192) ^ (y >> 240)) & 0xFFFF
        y = (y >> 16) | (x << 240)
    return y


@functools.cache
def _psi_tables(times: int) -> tuple[tuple[int, ...], ...]:
    """ψ^times as 32 byte-indexed tables: ψ is linear over GF(2), so ψ^n(y) is the XOR of the
    images of y's bytes. Built on first use (a few ms) and replaces ~60 shift rounds per call."""
    basis = [_psi(1 << bit, times) for bit in range(256)]
    tables = []
    for byte in range(32):
        table = [0] * 256
        for v in range(1, 256):
            low = v & -v
            table[v] = table[v ^ low] ^ basis[8 * byte + low.bit_length() - 1]
        tables.append(tuple(table))
    return tuple(tables)


def _psi_fast(y: int, tables: tuple[tuple[int, ...], ...]) -> int:
    out = 0
    for table, byte in zip(tables, y.to_bytes(32, "little"), strict=True):
        out ^= table[byte]
    return out


def _step(tables: _Tables, h: int, m: int) -> int:
    u, v = h, m
    keys = [_p(u ^ v)]
    for c in (0, _C3, 0):
        u = _a(u) ^ c
        v = _a(_a(v))
        keys.append(_p(u ^ v))
    s = 0
    for i, key in enumerate(keys):
        s |= _encrypt(tables, key, (h >> (64 * i)) & _M64) << (64 * i)
    # ψ⁶¹(H ⊕ ψ(M ⊕ ψ¹²(S))) = ψ⁶¹(H) ⊕ ψ⁶²(M) ⊕ ψ⁷⁴(S) by linearity.
    return _psi_fast(h, _psi_tables(61)) ^ _psi_fast(m, _psi_tables(62)) ^ _psi_fast(s, _psi_tables(74))


class Gost94:
    """Incremental GOST R 34.11-94; ``sbox`` is "test" (Kazakh GOST 34.311-95) or "cryptopro"."""

    __slots__ = ("_buf", "_h", "_length", "_sigma", "_tables")
    digest_size = 32

    def __init__(self, data: bytes = b"", *, sbox: str = "test") -> None:
        if sbox not in _SBOXES:
            raise ValueError(f"unknown GOST R 34.11-94 S-box {sbox!r}")
        self._tables = _tables(sbox)
        self._h = 0
        self._sigma = 0
        self._length = 0
        self._buf = b""
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        buf = self._buf + bytes(data) if self._buf else bytes(data)
        h, sigma = self._h, self._sigma
        full = len(buf) - len(buf) % 32
        for off in range(0, full, 32):
            m = int.from_bytes(buf[off : off + 32], "little")
            h = _step(self._tables, h, m)
            sigma = (sigma + m) & _M256
        self._h, self._sigma = h, sigma
        self._length += full
        self._buf = buf[full:]

    def digest(self) -> bytes:
        h, sigma = self._h, self._sigma
        length = self._length
        if self._buf:  # the last partial block is zero-padded at its high end
            m = int.from_bytes(self._buf, "little")
            h = _step(self._tables, h, m)
            sigma = (sigma + m) & _M256
            length += len(self._buf)
        h = _step(self._tables, h, (8 * length) & _M256)
        h = _step(self._tables, h, sigma)
        return h.to_bytes(32, "little")


def gost3411_94(data: bytes) -> bytes:
    """GOST R 34.11-94 digest of ``data`` with the test S-box (Kazakh GOST 34.311-95)."""
    return Gost94(data).digest()


def gost3411_94_cryptopro(data: bytes) -> bytes:
    """GOST R 34.11-94 with the CryptoPro S-box (Russian 1.2.643.2.2.9 with 1.2.643.2.2.30.1)."""
    return Gost94(data, sbox="cryptopro").digest()
