"""GOST R 34.10 signature verification in this package's own C (`_gostc.c`), the first of three verifiers.

OpenSSL's gost engine needs ~0.5-0.8 ms per 512-bit verification and the pure-Python arithmetic ~7-9 ms.
The extension computes u·G + v·Q with one Lim-Lee comb (8 teeth, two blocks of columns: 32 doublings and
≤ 128 mixed additions for 512 bits) over the generator's table, built once per process, and the public key's
table (64 KB for 512 bits), kept in an LRU keyed by the point: a signer key repeats (the CA of a chain, a
remembered signer). A key met once is left to the engine where it judges the curve (a key's table costs
~8 verifications). Field arithmetic is pseudo-Mersenne for p = 2^n − c (tc26 512 A/C, CryptoPro-A /
tc26 256 A) and Montgomery otherwise, so every curve of `curves` is served; e⁻¹ mod q is a binary Euclid
in C too.

Verification only: the C is variable time, which is sound because a verification has no secret input.

Order of the verifiers (`kz._verify_key`): this one, then the engine (`engine`), then Python (`ec`), the
reference. A curve is used here only after the extension reproduces the known-answer vectors of
`engine_vectors` for it (each verifies; with e, r or s changed it does not) and a field multiplication
matches Python's, on first use or at start-up through :func:`native_curves`. Off when the extension was not
built (an install without a compiler), when ``AUTHSVC_GOST_NATIVE`` is ``0``/``off``/``false``/``no``, or after
``set_native_enabled(False)``; callers then get ``None``.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import ModuleType
from typing import Final, Protocol, cast

from authsvc.pki.gost.curves import CURVES_BY_NAME, Curve
from authsvc.pki.gost.ec import Point
from authsvc.pki.gost.engine_vectors import VECTORS

__all__ = ["native_curves", "set_native_enabled", "verify_native"]

log = logging.getLogger(__name__)

_ENV_SWITCH: Final = "AUTHSVC_GOST_NATIVE"
_KEY_CACHE_SIZE: Final = 128  # a 512-bit key's table is 64 KB: 8 MB at most


class _Ext(Protocol):
    """The C extension's functions (`_gostc.c`)."""

    def curve(
        self, p: bytes, pm2: bytes, one: bytes, r2: bytes, a: bytes, n0: int, c: int, a_minus3: bool, /
    ) -> bytes: ...
    def table(self, curve: bytes, x: bytes, y: bytes, /) -> bytes | None: ...
    def verify(self, curve: bytes, gtab: bytes, qtab: bytes, u: bytes, v: bytes, cands: bytes, /) -> bool: ...
    def mul(self, curve: bytes, a: bytes, b: bytes, /) -> bytes: ...
    def inv_mod(self, m: bytes, a: bytes, /) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class _Field:
    """How a curve is packed for the extension and how its field values are represented."""

    curve: Curve
    ctx: bytes
    r: int  # the representation's factor: 2^n for Montgomery, 1 for pseudo-Mersenne

    def enc(self, x: int) -> bytes:
        return (x % self.curve.p).to_bytes(self.curve.size, "little")


def _field(ext: _Ext, curve: Curve) -> _Field | None:
    size = curve.size
    if size not in (32, 64) or curve.p.bit_length() > 8 * size:
        return None
    p, top = curve.p, 1 << (8 * size)
    c = top - p if top - p < 1 << 32 else 0
    r = 1 if c else top
    n0 = (-pow(p, -1, 1 << 64)) % (1 << 64)
    a_minus3 = curve.a % p == p - 3

    def enc(x: int) -> bytes:
        return (x % p).to_bytes(size, "little")

    ctx = ext.curve(p.to_bytes(size, "little"), enc(p - 2), enc(r), enc(r * r), enc(curve.a * r), n0, c, a_minus3)
    return _Field(curve, ctx, r)


class _Native:
    """The extension with the curves it passed, their generator tables and an LRU of key tables."""

    def __init__(self, ext: _Ext) -> None:
        self._ext = ext
        self._fields: dict[str, tuple[_Field, bytes]] = {}
        self._keys: OrderedDict[tuple[str, Point], bytes | None] = OrderedDict()
        self._seen: OrderedDict[tuple[str, Point], None] = OrderedDict()  # keys met once, no table yet
        self._keys_lock = threading.Lock()

    @property
    def curves(self) -> frozenset[str]:
        return frozenset(self._fields)

    def _key_table(self, field: _Field, point: Point, defer_first: bool) -> bytes | bool | None:
        """The key's comb table; False for a point off the curve (checked once per key: only points on it are
        kept); None for a point of small order, or (``defer_first``) a key met the first time."""
        key = (field.curve.name, point)
        with self._keys_lock:
            if key in self._keys:
                self._keys.move_to_end(key)
                return self._keys[key]
        if not field.curve.contains(point[0], point[1]):
            return False
        with self._keys_lock:
            if defer_first and key not in self._seen:
                self._seen[key] = None
                while len(self._seen) > 4 * _KEY_CACHE_SIZE:
                    self._seen.popitem(last=False)
                return None
            self._seen.pop(key, None)
        table = self._ext.table(field.ctx, field.enc(point[0]), field.enc(point[1]))
        with self._keys_lock:
            self._keys[key] = table
            while len(self._keys) > _KEY_CACHE_SIZE:
                self._keys.popitem(last=False)
        return table

    def verify(self, curve: Curve, point: Point, e: int, r: int, s: int, defer_first: bool = False) -> bool | None:
        entry = self._fields.get(curve.name)
        if entry is None:
            return None
        field, gtab = entry
        q = curve.q
        if not 0 < r < q or not 0 < s < q:
            return False  # ec.verify_raw's own refusals (and a key off the curve), so the verdicts agree
        qtab = self._key_table(field, point, defer_first)
        if not isinstance(qtab, bytes):
            return qtab
        n = curve.size
        e = e % q or 1
        # CPython's pow(e, -1, q) takes ~90 µs for 512 bits: the extension's binary Euclid ~10 µs.
        found = self._ext.inv_mod(q.to_bytes(n, "little"), e.to_bytes(n, "little"))
        if found is None:
            return None
        inv = int.from_bytes(found, "little")
        u, v = s * inv % q, (q - r) * inv % q
        cands = b"".join(field.enc(x) for x in range(r, curve.p, q))
        # scalars as they are (not reduced mod p): q > p on some curves (CryptoPro-B, tc26 512 B)
        return self._ext.verify(field.ctx, gtab, qtab, u.to_bytes(n, "little"), v.to_bytes(n, "little"), cands)

    def _admit(self, curve: Curve) -> bool:
        field = _field(self._ext, curve)
        if field is None:
            return False
        # One multiplication against Python's, in the representation: (a R)(b R)/R = a b R.
        a, b = curve.gy, curve.p - 3
        mul = self._ext.mul(field.ctx, field.enc(a * field.r), field.enc(b * field.r))
        if int.from_bytes(mul, "little") != a * b * field.r % curve.p:
            return False
        gtab = self._ext.table(field.ctx, field.enc(curve.gx), field.enc(curve.gy))
        if gtab is None:
            return False
        self._fields[curve.name] = (field, gtab)
        vectors = [v for v in VECTORS if v.curve == curve.name]
        passed = bool(vectors)
        for v in vectors:
            pt = (v.qx, v.qy)
            verdicts = (
                self.verify(curve, pt, v.e, v.r, v.s),
                self.verify(curve, pt, v.e ^ 1, v.r, v.s),
                self.verify(curve, pt, v.e, v.r ^ 2, v.s),
                self.verify(curve, pt, v.e, v.r, v.s ^ 4),
            )
            passed = passed and verdicts == (True, False, False, False)
        with self._keys_lock:
            self._keys.clear()
        if not passed:
            del self._fields[curve.name]
        return passed

    def self_test(self) -> None:
        """Admit each curve whose vectors the extension passes."""
        for curve in CURVES_BY_NAME.values():
            self._admit(curve)


def _import() -> _Ext | None:
    try:
        module: ModuleType = importlib.import_module("authsvc.pki.gost._gostc")
    except ImportError:
        return None
    return cast(_Ext, module)


_lock = threading.Lock()
_enabled = os.environ.get(_ENV_SWITCH, "").strip().lower() not in {"0", "off", "false", "no"}
_loaded: _Native | None = None
_probed = False


def _native() -> _Native | None:
    global _loaded, _probed
    if not _enabled:
        return None
    if not _probed:
        with _lock:
            if not _probed:
                ext = _import()
                if ext is not None:
                    _loaded = _Native(ext)
                    _loaded.self_test()
                _probed = True
                active = sorted(_loaded.curves) if _loaded is not None else []
                log.info("gost C verifier: %s", ", ".join(active) if active else "not available")
    return _loaded


def native_curves() -> frozenset[str]:
    """Names of the curves the C extension verifies (it passed their vectors); empty when off or not built.

    The first call imports and tests the extension: call it at start-up."""
    native = _native()
    return native.curves if native is not None else frozenset()


def set_native_enabled(enabled: bool) -> None:
    """Turn the C path on or off for this process (on by default where it was built and passes)."""
    global _enabled
    _enabled = enabled


def verify_native(curve: Curve, point: Point, e: int, r: int, s: int, *, defer_first: bool = False) -> bool | None:
    """The C verdict on (r, s) over the digest integer ``e`` (read little-endian) for the key ``point``, the
    same as `ec.verify_raw`'s; None when the C path cannot judge (off, not built, curve not admitted, a point
    of small order) and the caller must use the next verifier. With ``defer_first`` a key met for the first
    time is also None (remembered: its table is built when it comes back)."""
    native = _native()
    if native is None:
        return None
    return native.verify(curve, point, e, r, s, defer_first)
