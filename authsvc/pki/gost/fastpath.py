"""Optional OpenSSL fast path for Streebog (Debian ``libengine-gost-openssl``, provider ``gostprov``).

Pure-Python Streebog runs at about 1 MB/s; the ~19 MB production GOST CRL would take ~20 s of CPU.
When the gost provider is present, ``hashlib.new("md_gost12_512")`` hashes at ~200 MB/s. It becomes
available either because the deployment set OPENSSL_CONF to activate it, or because we load the
provider into the process's default OpenSSL context through ctypes (the same libcrypto that hashlib
uses). Either way it is used only after it reproduces the RFC 6986 vectors byte for byte, and the
pure implementation stays the fallback (and is what the test vectors pin down).
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from collections.abc import Callable

from authsvc.pki.gost.engine import libcrypto
from authsvc.pki.gost.streebog import streebog256, streebog512

_M1 = b"012345678901234567890123456789012345678901234567890123456789012"
_M1_512 = bytes.fromhex(
    "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
    "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"
)
_M1_256 = bytes.fromhex("9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500")
_OPENSSL_NAMES = {32: "md_gost12_256", 64: "md_gost12_512"}

_lock = threading.Lock()
_enabled = True
_probed: dict[int, Callable[[bytes], bytes]] | None = None


def _hashlib_impl(size: int) -> Callable[[bytes], bytes] | None:
    name = _OPENSSL_NAMES[size]
    try:
        hashlib.new(name)
    except ValueError:
        return None

    def run(data: bytes) -> bytes:
        return hashlib.new(name, data).digest()

    return run


def _load_provider() -> None:
    """Load OpenSSL's ``gostprov`` into the default library context (no-op if unavailable)."""
    lib = libcrypto()
    try:
        load = lib.OSSL_PROVIDER_load if lib is not None else None
    except AttributeError:
        return
    if load is None:
        return
    load.restype = ctypes.c_void_p
    load.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    # Loading any provider explicitly stops OpenSSL from auto-loading "default": keep it loaded.
    if load(None, b"default"):
        load(None, b"gostprov")


def _probe() -> dict[int, Callable[[bytes], bytes]]:
    found: dict[int, Callable[[bytes], bytes]] = {}
    if _hashlib_impl(64) is None:
        _load_provider()
    # RFC 6986 M1 (one partial block) plus a three-block message checked against the pure code.
    sample = bytes(range(256)) * 3 + b"tail"
    for size, expected, pure in ((32, _M1_256, streebog256), (64, _M1_512, streebog512)):
        impl = _hashlib_impl(size)
        if impl is not None and impl(_M1) == expected and impl(sample) == pure(sample):
            found[size] = impl
    return found


def _fast(size: int) -> Callable[[bytes], bytes] | None:
    global _probed
    if not _enabled:
        return None
    if _probed is None:
        with _lock:
            if _probed is None:
                _probed = _probe()
    return _probed.get(size)


def set_openssl_fast_path(enabled: bool) -> None:
    """Turn the OpenSSL path on or off (it is on by default where available)."""
    global _enabled
    _enabled = enabled


def openssl_fast_path_active() -> bool:
    return _fast(64) is not None and _fast(32) is not None


def streebog256_fast(data: bytes) -> bytes:
    impl = _fast(32)
    return impl(data) if impl is not None else streebog256(data)


def streebog512_fast(data: bytes) -> bytes:
    impl = _fast(64)
    return impl(data) if impl is not None else streebog512(data)
