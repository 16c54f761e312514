"""Signatures per second through the virtual PIV card over real PC/SC: this process -> libpcsclite ->
a private pcscd -> the vpcd driver -> TCP -> the emulator (its own process) -> and back.

Run (root, for pcscd's private mount namespace):
    .venv/bin/python benchmarks/bench_vcard.py [--seconds 5] [--quick]
Each algorithm signs for --seconds; the PIN is verified once; every signature is new data."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from drivers.pcsc import Context, PivCard  # noqa: E402
from simulators.vcard.pcscd import SOCKET_ENV, PrivatePcscd  # noqa: E402
from simulators.vcard.provision import provision  # noqa: E402
from tests.simulators.vcard.fixtures import Emulator, free_port_pair  # noqa: E402

SLOTS = [("RSA-2048 (9A, PKCS#1 v1.5 SHA-256)", 0x9A), ("ECC P-256 (9C, ECDSA SHA-256)", 0x9C),
         ("GOST 34.10-2015-512 (82, Streebog-512, alg D2)", 0x82)]  # fmt: skip


def measure(card: PivCard, slot: int, seconds: float) -> tuple[int, float, list[float]]:
    card.sign(slot, b"warm-up")
    latencies = []
    start = time.perf_counter()
    n = 0
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        card.sign(slot, n.to_bytes(8, "big") * 16)
        latencies.append(time.perf_counter() - t)
        n += 1
    return n, time.perf_counter() - start, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 s per algorithm")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory(prefix="bench-vcard-") as tmp:
        root = Path(tmp)
        profile = provision(root / "nca")
        card_file = root / "card.json"
        profile.save(card_file)
        port = free_port_pair()
        daemon = PrivatePcscd(root / "pcscd", vpcd_port=port)
        os.environ[SOCKET_ENV] = str(daemon.socket_path)
        with daemon:
            emulator = Emulator(card_file, port, root / "emulator.log")
            try:
                time.sleep(1.0)  # pcscd's presence poll
                with Context() as ctx, ctx.connect("Virtual PCD 00 00") as conn:
                    card = PivCard(conn)
                    card.verify_pin(profile.pin)
                    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                          f"Python {platform.python_version()}, {seconds:g} s per algorithm")  # fmt: skip
                    for label, slot in SLOTS:
                        n, elapsed, lat = measure(card, slot, seconds)
                        lat_ms = sorted(x * 1000 for x in lat)
                        p99 = lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]
                        print(f"{label:48s} {n / elapsed:7.1f}/s  p50 {statistics.median(lat_ms):6.1f} ms"
                              f"  p99 {p99:6.1f} ms  ({n} signatures)")  # fmt: skip
                    stats = emulator.call("/status")
                    print(f"# APDUs answered by the card: {stats['apdus']}")
            finally:
                emulator.stop()


if __name__ == "__main__":
    main()
