"""Rough timings of the GOST code in this interpreter: verify/sign ms per curve, hash MB/s.

Run: .venv/bin/python benchmarks/bench_gost.py [--quick]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial

from authsvc.pki.gost import (
    digest,
    generate_private_key,
    public_key_info_der,
    sign,
    sign_digest,
    verify,
    verify_digest,
)
from authsvc.pki.gost.fastpath import openssl_fast_path_active, streebog512_fast
from authsvc.pki.gost.gost94 import gost3411_94
from authsvc.pki.gost.streebog import streebog256, streebog512

CASES = [
    ("GOST 34.310-2004 (CryptoPro-A, 256)", "kz-gost2004", "1.2.398.3.10.1.1.1.2"),
    ("GOST 2015 256 (tc26 256 A)", "kz-gost2015-256", "1.2.398.3.10.1.1.2.3.1"),
    ("GOST 2015 512 (tc26 512 A)", "kz-gost2015-512", "1.2.398.3.10.1.1.2.3.2"),
]


def per_call_ms(fn: Callable[[], object], rounds: int) -> float:
    fn()  # warm caches
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds * 1000


def mb_per_s(fn: Callable[[bytes], bytes], size: int) -> float:
    data = bytes(range(256)) * (size // 256)
    start = time.perf_counter()
    fn(data)
    return size / (time.perf_counter() - start) / 1e6


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = 5 if quick else 50
    message = b"x" * 1000
    for label, profile, algorithm in CASES:
        key = generate_private_key(profile)
        spki = public_key_info_der(key.public_key(), profile)
        signature = sign(key, algorithm, message)
        hashed = digest(algorithm, message)
        assert verify_digest(spki, algorithm, hashed, signature)
        ec_verify = per_call_ms(partial(verify_digest, spki, algorithm, hashed, signature), rounds)
        full_verify = per_call_ms(partial(verify, spki, algorithm, message, signature), rounds)
        ec_sign = per_call_ms(partial(sign_digest, key, algorithm, hashed), rounds)
        print(
            f"{label:38s} verify_digest {ec_verify:6.2f} ms   verify(1 kB) {full_verify:6.2f} ms"
            f"   sign_digest {ec_sign:6.2f} ms"
        )
    size = 1 << (18 if quick else 20)
    print(f"Streebog-512 pure Python     {mb_per_s(streebog512, size):8.2f} MB/s")
    print(f"Streebog-256 pure Python     {mb_per_s(streebog256, size):8.2f} MB/s")
    print(f"GOST R 34.11-94 (test S-box) {mb_per_s(gost3411_94, size // 2):8.2f} MB/s")
    if openssl_fast_path_active():
        print(f"Streebog-512 OpenSSL gostprov {mb_per_s(streebog512_fast, 20 << 20):7.1f} MB/s")
    else:
        print("Streebog-512 OpenSSL gostprov: not available (libengine-gost-openssl not installed)")


if __name__ == "__main__":
    main()
