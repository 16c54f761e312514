"""GOST R 34.10 signature verification through OpenSSL's gost engine (Debian ``libengine-gost-openssl``).

The pure-Python arithmetic (`authsvc.pki.gost.ec`) needs ~7-9 ms for a 512-bit verification; the
engine's C needs ~0.8 ms. This module is a small ctypes binding over the libcrypto that
hashlib already uses (the one `fastpath` loads the Streebog provider into): the engine is loaded
by id, its GOST key and pkey methods are registered, a key becomes an EVP_PKEY by ``d2i_PUBKEY`` of a
SubjectPublicKeyInfo written with the Russian (tc26 / CryptoPro) OIDs of its curve, and
``EVP_PKEY_verify`` checks a signature over a digest computed elsewhere. No subprocess.

The gost provider (``gostprov``, 3.0.1) has digests and ciphers but no signatures, so the *engine*
API is used here. The engine's own md_gost94 has the CryptoPro S-box, not the Kazakh test S-box,
so GOST 34.310-2004 signatures are verified by the engine over a digest our GOST 34.311-95 code
computed; Streebog digests come from `fastpath`.

Byte orders at the boundary (KZ-PKI.md §2): the Kazakh key X‖Y little-endian is exactly RFC 4491's,
so the key bytes pass through; the engine wants the signature as s‖r big-endian (RFC 4491) and reads
the digest as a little-endian integer, as the Kazakh profile does.

A curve is used only after the engine passes the known-answer vectors of `engine_vectors` for it
(each must verify; with e, r or s changed it must not), on first use or at start-up through
:func:`engine_curves`. The engine is off when ``AUTHSVC_GOST_ENGINE`` is ``0``/``off``/``false``,
after ``set_engine_enabled(False)``, or when OpenSSL cannot load it (``OPENSSL_ENGINES`` elsewhere);
callers then get ``None`` and use the Python code, which stays the reference.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

from authsvc.pki.gost import oids
from authsvc.pki.gost.curves import CURVES_BY_NAME, Curve
from authsvc.pki.gost.ec import Point
from authsvc.pki.gost.engine_vectors import VECTORS
from authsvc.pki.gost.keys import parse_public_key, public_key_info_der_for
from authsvc.pki.gost.native import native_curves

__all__ = ["engine_curves", "engine_judges_key", "libcrypto", "set_engine_enabled", "verify_digest_engine"]

log = logging.getLogger(__name__)

_ENGINE_ID: Final = b"gost"
_ENV_SWITCH: Final = "AUTHSVC_GOST_ENGINE"
_KEY_CACHE_SIZE: Final = 256  # CA, responder and recent signer keys; each EVP_PKEY is a few hundred bytes

_GOST2001_KEY: Final = "1.2.643.2.2.19"
_CRYPTOPRO_HASH_PARAMS: Final = "1.2.643.2.2.30.1"

# How each curve is written for the engine: (key OID, curve OID, digest-parameter OID or None).
# 256-bit curves are tried as GOST R 34.10-2012-256 keys first, then as 2001 keys (the engine
# knows the test parameter set only for 2001); the vectors decide which form, if any, is used.
_FORMS: Final[dict[str, tuple[tuple[str, str, str | None], ...]]] = {
    "id-GostR3410-2001-CryptoPro-A-ParamSet": (
        (oids.TC26_256_KEY, "1.2.643.2.2.35.1", oids.TC26_STREEBOG256_DIGEST),
        (_GOST2001_KEY, "1.2.643.2.2.35.1", _CRYPTOPRO_HASH_PARAMS),
    ),
    "id-GostR3410-2001-CryptoPro-B-ParamSet": (
        (oids.TC26_256_KEY, "1.2.643.2.2.35.2", oids.TC26_STREEBOG256_DIGEST),
        (_GOST2001_KEY, "1.2.643.2.2.35.2", _CRYPTOPRO_HASH_PARAMS),
    ),
    "id-GostR3410-2001-CryptoPro-C-ParamSet": (
        (oids.TC26_256_KEY, "1.2.643.2.2.35.3", oids.TC26_STREEBOG256_DIGEST),
        (_GOST2001_KEY, "1.2.643.2.2.35.3", _CRYPTOPRO_HASH_PARAMS),
    ),
    "id-GostR3410-2001-TestParamSet": (
        (oids.TC26_256_KEY, "1.2.643.2.2.35.0", oids.TC26_STREEBOG256_DIGEST),
        (_GOST2001_KEY, "1.2.643.2.2.35.0", _CRYPTOPRO_HASH_PARAMS),
    ),
    "id-tc26-gost-3410-2012-256-paramSetA": ((oids.TC26_256_KEY, "1.2.643.7.1.2.1.1.1", None),),
    "id-tc26-gost-3410-12-512-paramSetA": ((oids.TC26_512_KEY, "1.2.643.7.1.2.1.2.1", None),),
    "id-tc26-gost-3410-12-512-paramSetB": ((oids.TC26_512_KEY, "1.2.643.7.1.2.1.2.2", None),),
    "id-tc26-gost-3410-2012-512-paramSetC": ((oids.TC26_512_KEY, "1.2.643.7.1.2.1.2.3", None),),
    "id-tc26-gost-3410-2012-512-paramSetTest": ((oids.TC26_512_KEY, "1.2.643.7.1.2.1.2.0", None),),
}

_lock = threading.Lock()
_enabled = os.environ.get(_ENV_SWITCH, "").strip().lower() not in {"0", "off", "false", "no"}


def libcrypto() -> ctypes.CDLL | None:
    """The process's libcrypto (the library hashlib is linked against), or None."""
    try:
        return ctypes.CDLL("libcrypto.so.3")
    except OSError:
        return None


class _Lib:
    """The few libcrypto functions used, with their C signatures declared."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        vp, ip, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        self.engine_by_id = lib.ENGINE_by_id
        self.engine_by_id.argtypes, self.engine_by_id.restype = [ctypes.c_char_p], vp
        self.engine_init = lib.ENGINE_init
        self.engine_init.argtypes, self.engine_init.restype = [vp], ip
        self.engine_free = lib.ENGINE_free
        self.engine_free.argtypes, self.engine_free.restype = [vp], ip
        self.register_asn1 = lib.ENGINE_register_pkey_asn1_meths
        self.register_asn1.argtypes, self.register_asn1.restype = [vp], ip
        self.register_pkey = lib.ENGINE_register_pkey_meths
        self.register_pkey.argtypes, self.register_pkey.restype = [vp], ip
        self.d2i_pubkey = lib.d2i_PUBKEY
        self.d2i_pubkey.argtypes = [vp, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
        self.d2i_pubkey.restype = vp
        self.pkey_up_ref = lib.EVP_PKEY_up_ref
        self.pkey_up_ref.argtypes, self.pkey_up_ref.restype = [vp], ip
        self.pkey_free = lib.EVP_PKEY_free
        self.pkey_free.argtypes, self.pkey_free.restype = [vp], None
        self.ctx_new = lib.EVP_PKEY_CTX_new
        self.ctx_new.argtypes, self.ctx_new.restype = [vp, vp], vp
        self.ctx_free = lib.EVP_PKEY_CTX_free
        self.ctx_free.argtypes, self.ctx_free.restype = [vp], None
        self.verify_init = lib.EVP_PKEY_verify_init
        self.verify_init.argtypes, self.verify_init.restype = [vp], ip
        self.verify = lib.EVP_PKEY_verify
        self.verify.argtypes = [vp, ctypes.c_char_p, sz, ctypes.c_char_p, sz]
        self.verify.restype = ip
        self.clear_errors = lib.ERR_clear_error
        self.clear_errors.argtypes, self.clear_errors.restype = [], None


@dataclass(frozen=True, slots=True)
class _Form:
    key_oid: str
    curve_oid: str
    digest_param_oid: str | None


class _Engine:
    """A loaded, initialised gost engine; EVP_PKEYs kept by (curve, point) in a small LRU."""

    def __init__(self, lib: _Lib, engine: int) -> None:
        self._lib = lib
        self._engine = engine
        self._forms: dict[str, _Form] = {}
        self._keys: OrderedDict[tuple[str, Point], int] = OrderedDict()
        self._keys_lock = threading.Lock()

    @property
    def curves(self) -> frozenset[str]:
        return frozenset(self._forms)

    def _new_pkey(self, curve: Curve, form: _Form, point: Point) -> int | None:
        spki = public_key_info_der_for(
            curve, point, oids.KeyProfile(form.key_oid, form.curve_oid, form.digest_param_oid)
        )
        cursor = ctypes.c_char_p(spki)
        pkey: int | None = self._lib.d2i_pubkey(None, ctypes.byref(cursor), len(spki))
        if not pkey:
            self._lib.clear_errors()
            return None
        return pkey

    def _acquire(self, curve: Curve, point: Point) -> int | None:
        """An EVP_PKEY with a reference the caller must free (the cache may drop its own meanwhile)."""
        form = self._forms.get(curve.name)
        if form is None:
            return None
        key = (curve.name, point)
        with self._keys_lock:
            pkey = self._keys.get(key)
            if pkey is not None:
                self._keys.move_to_end(key)
                self._lib.pkey_up_ref(pkey)
                return pkey
        pkey = self._new_pkey(curve, form, point)
        if pkey is None:
            return None
        with self._keys_lock:
            self._lib.pkey_up_ref(pkey)
            old = self._keys.get(key)
            self._keys[key] = pkey
            if old is not None:
                self._lib.pkey_free(old)
            while len(self._keys) > _KEY_CACHE_SIZE:
                self._lib.pkey_free(self._keys.popitem(last=False)[1])
        return pkey

    def _run(self, pkey: int, digest_le: bytes, signature: bytes) -> bool | None:
        lib = self._lib
        ctx = lib.ctx_new(pkey, self._engine)
        if not ctx:
            lib.clear_errors()
            return None
        try:
            if lib.verify_init(ctx) != 1:
                return None
            rc = lib.verify(ctx, signature, len(signature), digest_le, len(digest_le))
        finally:
            lib.ctx_free(ctx)
            lib.clear_errors()  # a mismatch leaves an error queued: never let hashlib or ssl read it
        return True if rc == 1 else False if rc == 0 else None

    def verify(self, curve: Curve, point: Point, digest_le: bytes, r: int, s: int) -> bool | None:
        pkey = self._acquire(curve, point)
        if pkey is None:
            return None
        n = curve.size
        try:
            return self._run(pkey, digest_le, s.to_bytes(n, "big") + r.to_bytes(n, "big"))
        finally:
            self._lib.pkey_free(pkey)

    def _passes(self, curve: Curve, form: _Form) -> bool:
        self._forms[curve.name] = form
        try:
            for v in (v for v in VECTORS if v.curve == curve.name):
                good = self.verify(curve, (v.qx, v.qy), v.e.to_bytes(curve.size, "little"), v.r, v.s)
                bad_e = self.verify(curve, (v.qx, v.qy), (v.e ^ 1).to_bytes(curve.size, "little"), v.r, v.s)
                bad_r = self.verify(curve, (v.qx, v.qy), v.e.to_bytes(curve.size, "little"), v.r ^ 2, v.s)
                bad_s = self.verify(curve, (v.qx, v.qy), v.e.to_bytes(curve.size, "little"), v.r, v.s ^ 4)
                if (good, bad_e, bad_r, bad_s) != (True, False, False, False):
                    return False
            return any(v.curve == curve.name for v in VECTORS)
        finally:
            del self._forms[curve.name]
            with self._keys_lock:
                while self._keys:
                    self._lib.pkey_free(self._keys.popitem()[1])

    def self_test(self) -> None:
        """Admit each curve in the first form that passes all of its vectors."""
        for name, forms in _FORMS.items():
            curve = CURVES_BY_NAME[name]
            for key_oid, curve_oid, digest_param in forms:
                form = _Form(key_oid, curve_oid, digest_param)
                if self._passes(curve, form):
                    self._forms[name] = form
                    break


def _load() -> _Engine | None:
    raw = libcrypto()
    if raw is None:
        return None
    try:
        lib = _Lib(raw)
    except AttributeError:  # a libcrypto built without engines
        return None
    handle = lib.engine_by_id(_ENGINE_ID)
    if not handle:
        lib.clear_errors()
        return None
    ok = lib.engine_init(handle) == 1
    lib.engine_free(handle)  # drop the structural reference; init holds a functional one
    if not ok or lib.register_asn1(handle) != 1 or lib.register_pkey(handle) != 1:
        lib.clear_errors()
        return None
    engine = _Engine(lib, handle)
    engine.self_test()
    return engine


_loaded: _Engine | None = None
_probed = False


def _engine() -> _Engine | None:
    global _loaded, _probed
    if not _enabled:
        return None
    if not _probed:
        with _lock:
            if not _probed:
                _loaded = _load()
                _probed = True
                active = sorted(_loaded.curves) if _loaded is not None else []
                log.info("gost engine: %s", ", ".join(active) if active else "not available, pure Python in use")
    return _loaded


def engine_curves() -> frozenset[str]:
    """Names of the curves the engine verifies (it passed their vectors); empty when it is off or absent.

    The first call loads and tests the engine: call it at start-up."""
    engine = _engine()
    return engine.curves if engine is not None else frozenset()


def set_engine_enabled(enabled: bool) -> None:
    """Turn the engine path on or off for this process (on by default where it loads and passes)."""
    global _enabled
    _enabled = enabled


def verify_digest_engine(curve: Curve, point: Point, digest_le: bytes, r: int, s: int) -> bool | None:
    """The engine's verdict on (r, s) over ``digest_le`` for the key ``point``; None if the engine cannot
    judge (off, absent, curve not admitted, or an OpenSSL error), and the caller must use the Python code.

    The caller checks 0 < r, s < q first, as `ec.verify_raw` does (the engine 3.0.1 also accepts r = q or
    s = q; such a signature can never verify, but the verdicts must be the same by construction)."""
    engine = _engine()
    if engine is None:
        return None
    return engine.verify(curve, point, digest_le, r, s)


def engine_judges_key(spki_der: bytes) -> bool:
    """True if signatures by this GOST SubjectPublicKeyInfo are verified in C: by this package's extension
    (`native`) or by the engine (a readable key on a curve one of them admitted). The test
    `authsvc.pki.inline` uses to keep GOST work off the loop otherwise."""
    curves = engine_curves() | native_curves()
    if not curves:
        return False
    try:
        return parse_public_key(spki_der).curve.name in curves
    except ValueError:
        return False
