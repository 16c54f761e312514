"""Attestations signed and verified per second on one core, with the key file and with the keys on SoftHSM2.

    .venv/bin/python -m benchmarks.bench_attestation [--seconds 5] [--rounds 2]

`Attestor.issue` (canonical JSON, compact JWS, Ed25519 through the `KeyStore`: in software for the key file,
CKM_EDDSA on the token for SoftHSM2) and `Attestor.verify` (strict parse, Ed25519 in software with the public
key from memory, for both) over the claims of an identification with three steps, one after another in
this process pinned to core 0; rates are per second of the process's CPU time (the wall-clock rate beside
them depends on what else the machine runs). Rounds alternate file/HSM. SoftHSM2 runs in a temporary SOFTHSM2_CONF.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from authsvc.attestation import AttestedStep, Attestor, identification_claims
from authsvc.crypto.keystore import KeyStore
from authsvc.crypto.local_keys import LocalKeyStore

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
SO_PIN, PIN = "87654321", "1234"
REPO = Path(__file__).resolve().parent.parent


def claims(n: int) -> dict[str, Any]:
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    steps = [
        AttestedStep("eds", at, "passed", [hashlib.sha256(b"cms %d" % n).hexdigest()]),
        AttestedStep("liveness", at + timedelta(seconds=8), "passed",
                     [hashlib.sha256(b"frames %d" % n).hexdigest(), hashlib.sha256(b"photo %d" % n).hexdigest()]),
        AttestedStep("cdao", at + timedelta(seconds=9), "passed", [hashlib.sha256(b"cdao %d" % n).hexdigest()]),
    ]  # fmt: skip
    return identification_claims(
        issuer="https://authsvc.example.kz", client_id=f"cl_{n:08d}", lender_id="ln_bench", operation="loan_contract",
        profile="nb-2025", identification_id=f"idn_{n:08d}", steps=steps, issued_at=at + timedelta(seconds=10),
    )  # fmt: skip


def rate(fn: Callable[[int], object], seconds: float) -> float:
    """Calls per second of this process's CPU time (its own work and SoftHSM2's, a library in the process):
    what one core does, whatever else the machine runs; the wall-clock rate is printed beside it."""
    for i in range(20):  # warm up
        fn(i)
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        fn(n)
        n += 1
    cpu_rate = n / (time.process_time() - cpu)
    print(f"  {getattr(fn, '__name__', 'call')}: {n} calls, wall {n / (time.perf_counter() - start):,.0f}/s, "
          f"CPU {cpu_rate:,.0f}/s")  # fmt: skip
    return cpu_rate


def hsm_store(home: Path) -> KeyStore:
    from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore

    label = f"bench-attest-{os.getpid()}"
    cmd = [sys.executable, "-m", "drivers.pkcs11.provision", "--label", label, "--so-pin", SO_PIN, "--pin", PIN]
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    store = Pkcs11KeyStore(MODULE, label, PIN)
    store.initialize()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    home = Path(tempfile.mkdtemp(prefix="authsvc-bench-attest-"))
    (home / "tokens").mkdir()
    (home / "softhsm2.conf").write_text(
        f"directories.tokendir = {home}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    os.environ["SOFTHSM2_CONF"] = str(home / "softhsm2.conf")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores (this process on core 0), Python "
          f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    stores = {"key file": LocalKeyStore.generate(), "SoftHSM2": hsm_store(home)}
    rates: dict[str, dict[str, list[float]]] = {name: {"sign": [], "verify": []} for name in stores}
    for _ in range(args.rounds):
        for name, store in stores.items():
            attestor = Attestor(store)
            token = attestor.issue(claims(0))

            def sign(n: int, a: Attestor = attestor) -> str:
                return a.issue(claims(n))

            def verify(_n: int, a: Attestor = attestor, t: str = token) -> object:
                return a.verify(t)

            rates[name]["sign"].append(rate(sign, args.seconds))
            rates[name]["verify"].append(rate(verify, args.seconds))
    size = len(Attestor(stores["key file"]).issue(claims(0)))
    for name, by in rates.items():
        signs, verifies = statistics.median(by["sign"]), statistics.median(by["verify"])
        print(f"attestations, keys {name}, per CPU-second of one core: sign {signs:,.0f}/s ({1e6 / signs:,.0f} µs), verify {verifies:,.0f}/s "
              f"({1e6 / verifies:,.0f} µs); rounds {json.dumps({k: [round(x) for x in v] for k, v in by.items()})}")  # fmt: skip
    print(f"token size: {size} characters (3 steps, 4 evidence hashes)")


if __name__ == "__main__":
    main()
