"""Signatures per second through the virtual PIV card over real PC/SC: this process -> libpcsclite ->
a private pcscd -> the vpcd driver -> TCP -> the emulator (its own process) -> and back.

Run (root, for pcscd's private mount namespace):
    .venv/bin/python benchmarks/bench_vcard.py [--seconds 5] [--quick] [--kiosk-runs 10]
Each algorithm signs for --seconds; the PIN is verified once; every signature is new data.

With --kiosk-runs N (0 = skip) it also times the kiosk flow through the card, from the card inserted to the
verdict (`drivers.kiosk.flow.identify` in this process against `authsvc serve` and the NCA simulator; a
card issued for the registered client by the simulator; the card pulled out before each run and put back
when the clock starts, so pcscd's presence poll is part of it): GOST by APDUs (`CardSigner`) and RSA through
OpenSC's PKCS#11 module (`TokenSigner`)."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from asn1crypto import x509

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


OPENSC = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"


def bench_kiosk_card(root: Path, port: int, runs: int) -> None:
    import asyncio
    import random
    import urllib.request

    from benchmarks import bench_registration, server
    from benchmarks.bench_hsm import _http, _Nca, _pct
    from drivers.kiosk.card import CardSigner
    from drivers.kiosk.flow import identify
    from drivers.kiosk.service import ServiceClient
    from drivers.kiosk.signer import Signer, TokenSigner
    from simulators.vcard.provision import provision_online

    nca = _Nca(root / "nca-kiosk")
    env = nca.pki_env(root / "pki") | {"AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false"}
    with server.running(None, core=None, extra_env=env) as srv:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(srv.base + "/readyz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("service not ready (trust store)") from None
                time.sleep(0.3)
        iin = bench_registration.valid_iin(random.randint(1, 10**6))
        body = bench_registration.body(iin, bench_registration.photo(False))
        client = _http("POST", srv.base + "/v1/clients", srv.api_key, body)["id"]
        profile = provision_online(nca.url, iin=iin, surname=body["surname"], first_name=body["first_name"])
        card_file = root / "kiosk-card.json"
        profile.save(card_file)
        emulator = Emulator(card_file, port, root / "emulator-kiosk.log")
        cn = x509.Certificate.load(profile.slots[0x9A].certificate).subject.native["common_name"]

        async def flows(name: str, make: Callable[[], Signer]) -> None:
            async def pin(_secret: str) -> str:
                return profile.pin

            times: list[float] = []
            async with ServiceClient(srv.base, srv.api_key) as service:
                for _ in range(runs):
                    await asyncio.to_thread(emulator.remove)
                    await asyncio.sleep(0.5)  # pcscd sees the reader empty
                    signer = make()
                    start = time.perf_counter()
                    await asyncio.to_thread(emulator.insert)
                    result = await identify(service, signer, identification_id=None, client_id=client,
                                            operation="login", wait_s=10, say=lambda _k, _d: None, ask=pin)  # fmt: skip
                    times.append((time.perf_counter() - start) * 1000)
                    await signer.close()
                    assert result["outcome"] == "passed", result
            print(f"kiosk flow, card inserted → verdict, {name}, {runs} runs: "
                  f"p50 {_pct(times, 50):,.0f} ms, p99 {_pct(times, 99):,.0f} ms (p99 of {runs} = the slowest)")  # fmt: skip

        try:
            time.sleep(1.0)
            asyncio.run(flows("GOST by APDUs (CardSigner, slot 82)", lambda: CardSigner("Virtual PCD 00 00")))
            asyncio.run(flows("RSA through OpenSC's PKCS#11 module (slot 9A)",
                              lambda: TokenSigner(OPENSC, token_label=cn, key_label="Certificate for PIV Authentication")))  # fmt: skip
        finally:
            emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 s per algorithm")
    parser.add_argument("--kiosk-runs", type=int, default=10, help="kiosk flows per signing path (0: none)")
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
            if args.kiosk_runs > 0:
                bench_kiosk_card(root, port, args.kiosk_runs)


if __name__ == "__main__":
    main()
