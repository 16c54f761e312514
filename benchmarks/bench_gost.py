"""Rough timings of the GOST code in this interpreter: verify/sign ms per curve, hash MB/s.

Verification is timed in this package's C (`authsvc.pki.gost.native`, the default where it was built; a
remembered key, its table built), through OpenSSL's gost engine (`authsvc.pki.gost.engine`, the C path
off) and in pure Python (both off), beside OpenSSL's own figure: a C loop over
EVP_PKEY_verify with the same key, digest and signature, compiled here with cc against the system
libcrypto (skipped if no compiler or headers). Also a first-seen signer's path validation under the
simulator's root -> intermediate chain, with the certificate-signature verdicts remembered
(`authsvc.pki.path`: the intermediate's checked once) and forgotten before each signer.

Run: .venv/bin/python benchmarks/bench_gost.py [--quick]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
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
from authsvc.pki.gost.curves import CURVES_BY_NAME
from authsvc.pki.gost.engine import engine_curves, set_engine_enabled
from authsvc.pki.gost.engine_vectors import VECTORS
from authsvc.pki.gost.fastpath import openssl_fast_path_active, streebog512_fast
from authsvc.pki.gost.gost94 import gost3411_94
from authsvc.pki.gost.keys import public_key_info_der_for
from authsvc.pki.gost.native import native_curves, set_native_enabled
from authsvc.pki.gost.oids import TC26_512_KEY, KeyProfile
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


# OpenSSL's own figure: the engine's EVP_PKEY_verify in a C loop (argv: SPKI, digest, signature in hex; n).
_C_LOOP = r"""
#include <openssl/engine.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static size_t unhex(const char *h, unsigned char *out) {
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) sscanf(h + 2 * i, "%2hhx", &out[i]);
    return n;
}
int main(int argc, char **argv) {
    unsigned char spki[512], dg[64], sig[128];
    size_t ls = unhex(argv[1], spki), ld = unhex(argv[2], dg), lg = unhex(argv[3], sig);
    long n = atol(argv[4]);
    ENGINE *e = ENGINE_by_id("gost");
    if (!e || !ENGINE_init(e)) return 2;
    ENGINE_register_pkey_asn1_meths(e);
    ENGINE_register_pkey_meths(e);
    const unsigned char *p = spki;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)ls);
    if (!key) return 3;
    struct timespec t0, t1;
    int ok = 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, e);
        EVP_PKEY_verify_init(ctx);
        ok &= EVP_PKEY_verify(ctx, sig, lg, dg, ld) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%d %.4f\n", ok, ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / n);
    return 0;
}
"""


def openssl_c_loop_ms(rounds: int) -> float | None:
    """EVP_PKEY_verify of a GOST-2015-512 signature (tc26 512 A) in C, ms per call; None if cc is missing."""
    compiler = shutil.which("cc")
    if compiler is None:
        return None
    vector = next(v for v in VECTORS if v.curve == "id-tc26-gost-3410-12-512-paramSetA")
    curve = CURVES_BY_NAME[vector.curve]
    spki = public_key_info_der_for(curve, (vector.qx, vector.qy), KeyProfile(TC26_512_KEY, "1.2.643.7.1.2.1.2.1", None))
    digest_le = vector.e.to_bytes(64, "little")
    signature = vector.s.to_bytes(64, "big") + vector.r.to_bytes(64, "big")  # the engine's s‖r big-endian
    with tempfile.TemporaryDirectory() as folder:
        source, binary = f"{folder}/loop.c", f"{folder}/loop"
        with open(source, "w") as out:
            out.write(_C_LOOP)
        built = subprocess.run([compiler, "-O2", source, "-o", binary, "-lcrypto"], capture_output=True, check=False)
        if built.returncode != 0:
            return None
        run = subprocess.run(
            [binary, spki.hex(), digest_le.hex(), signature.hex(), str(rounds)],
            capture_output=True,
            text=True,
            check=True,
        )
    ok, ms = run.stdout.split()
    assert ok == "1", "OpenSSL rejected the known-answer signature"
    return float(ms)


def first_seen_paths_ms(signers: int) -> tuple[float, float]:
    """Path validation of ``signers`` first-seen GOST-2015-512 certificates under one NCA-shaped chain (the
    simulator's root -> intermediate -> leaf): ms per signer with the certificate-signature verdicts
    remembered (the intermediate's checked once), and with them forgotten before each (both checked)."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from authsvc.pki.path import PathValidator, forget_chain_verdicts
    from simulators.nca import keys
    from simulators.nca.ca import Urls, create_family
    from simulators.nca.issue import Holder, issue_end_entity

    now = datetime.now(UTC)
    urls = Urls("http://nca.bench")
    family = create_family("gost2015", urls, now - timedelta(days=1))
    holder = Holder(iin="811201401188", surname="Бенчмарков", first_name="Тест")
    leaves = [
        issue_end_entity(
            family,
            holder,
            keys.generate("gost2015").public_key_info(),
            urls=urls,
            not_before=now,
            not_after=now + timedelta(days=365),
        )
        for _ in range(2 * signers + 1)
    ]
    validator = PathValidator([family.root.certificate], [family.intermediate.certificate])

    async def per_signer() -> tuple[float, float]:
        assert (await validator.validate(leaves[0], at=now)).ok  # warm what is not per signer
        spent = [0.0, 0.0]
        for n, leaf in enumerate(leaves[1:]):  # in turn, so that the machine's drift hits both alike
            forget = n % 2
            if forget:
                forget_chain_verdicts()
            start = time.perf_counter()
            assert (await validator.validate(leaf, at=now)).ok
            spent[forget] += time.perf_counter() - start
        return spent[0] / signers * 1000, spent[1] / signers * 1000

    return asyncio.run(per_signer())


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = 5 if quick else 50
    message = b"x" * 1000
    print(
        "C curves:",
        len(native_curves()),
        "| engine curves:",
        len(engine_curves()),
        "| Streebog by OpenSSL:",
        openssl_fast_path_active(),
    )
    for label, profile, algorithm in CASES:
        key = generate_private_key(profile)
        spki = public_key_info_der(key.public_key(), profile)
        signature = sign(key, algorithm, message)
        hashed = digest(algorithm, message)
        assert verify_digest(spki, algorithm, hashed, signature)
        times: dict[str, tuple[float, float]] = {}
        for path in ("C", "engine", "Python"):
            set_native_enabled(path == "C")
            set_engine_enabled(path != "Python")
            n = rounds if path == "Python" else rounds * 10
            try:
                verify_digest(spki, algorithm, hashed, signature)  # the key's table (C) is built here
                times[path] = (
                    per_call_ms(partial(verify_digest, spki, algorithm, hashed, signature), n),
                    per_call_ms(partial(verify, spki, algorithm, message, signature), n),
                )
            finally:
                set_native_enabled(True)
                set_engine_enabled(True)
        ec_sign = per_call_ms(partial(sign_digest, key, algorithm, hashed), rounds)
        print(
            f"{label:38s} verify_digest C {times['C'][0]:6.3f} ms  engine {times['engine'][0]:6.3f} ms"
            f"  Python {times['Python'][0]:6.2f} ms | verify(1 kB) C {times['C'][1]:6.3f} ms"
            f"  engine {times['engine'][1]:6.3f} ms  Python {times['Python'][1]:6.2f} ms"
            f" | sign_digest (Python) {ec_sign:6.2f} ms"
        )
    c_loop = openssl_c_loop_ms(200 if quick else 2000)
    if c_loop is None:
        print("OpenSSL C loop: no compiler or headers")
    else:
        print(f"GOST 2015 512 EVP_PKEY_verify in a C loop (OpenSSL's own) {c_loop:6.3f} ms")
    for state in ("C", "engine", "Python"):
        set_native_enabled(state == "C")
        set_engine_enabled(state != "Python")
        try:
            remembered, forgotten = first_seen_paths_ms(5 if quick else 30)
        finally:
            set_native_enabled(True)
            set_engine_enabled(True)
        print(
            f"first-seen GOST 2015 512 signer, path root -> intermediate -> leaf ({state}): {remembered:6.2f} ms "
            f"with the intermediate's verdict remembered, {forgotten:6.2f} ms checking it again"
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
