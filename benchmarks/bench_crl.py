"""CRL index benchmark: a synthetic NCA-sized CRL (500,000 entries, ~19 MB), RSA-signed.

Measures, in a fresh child process so the figures are the indexer's own: validate (parse + signature
+ issuer + freshness) and index time, peak RSS, saved-index load time, and lookup latency.

    .venv/bin/python benchmarks/bench_crl.py [--entries 500000] [--workdir /tmp/authsvc-bench-crl]

Targets (issue: EDS against the NCA PKI): index < 10 s, peak RSS < 100 MB, lookup < 50 µs.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

THIS_UPDATE = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    octets = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(octets))) + octets + content


def _utc(when: datetime) -> bytes:
    return _tlv(0x17, when.strftime("%y%m%d%H%M%SZ").encode())


def build(entries: int, workdir: Path) -> tuple[Path, Path, list[int]]:
    """Assemble the CRL DER directly (cryptography's builder is quadratic in the entry count)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) BENCH")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(THIS_UPDATE - timedelta(days=365))
        .not_valid_after(THIS_UPDATE + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    rng = random.Random(500_000)
    serials = []
    parts = []
    reason_ext = bytes.fromhex("300c300a0603551d1504030a01")
    for i in range(entries):
        serial = rng.getrandbits(159) | (1 << 152)
        serials.append(serial)
        when = THIS_UPDATE - timedelta(seconds=rng.randrange(0, 4 * 365 * 86400))
        body = _tlv(0x02, serial.to_bytes(20, "big")) + _utc(when)
        if i % 4 == 0:
            body += reason_ext + bytes((rng.choice((1, 4, 5, 6)),))
        parts.append(_tlv(0x30, body))
    revoked = _tlv(0x30, b"".join(parts))
    del parts
    algorithm = bytes.fromhex("300d06092a864886f70d01010b0500")
    number_ext = _tlv(0x30, bytes.fromhex("0603551d14") + _tlv(0x04, _tlv(0x02, b"\x07")))
    tbs = _tlv(
        0x30,
        b"\x02\x01\x01"
        + algorithm
        + name.public_bytes()
        + _utc(THIS_UPDATE)
        + _utc(THIS_UPDATE + timedelta(days=2))
        + revoked
        + _tlv(0xA0, _tlv(0x30, number_ext)),
    )
    signature = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    crl = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    workdir.mkdir(parents=True, exist_ok=True)
    crl_path, ca_path = workdir / "bench.crl", workdir / "bench-ca.der"
    crl_path.write_bytes(crl)
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.DER))
    return crl_path, ca_path, serials


def _peak_rss_mb() -> float:
    """VmHWM of this process (ru_maxrss would include the forking parent's memory before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(crl_path: Path, ca_path: Path, probes_path: Path) -> dict[str, float]:
    """Child side: everything the service does with a fresh download, then lookups."""
    start_rss = _peak_rss_mb()
    from authsvc.pki.crl import index_crl_file
    from authsvc.pki.crl_index import CrlIndex

    import_rss = _peak_rss_mb()
    at = THIS_UPDATE + timedelta(hours=1)
    t1 = time.perf_counter()
    # what the cache's worker runs: parse, signature, issuer, freshness, then the index
    index, _ = index_crl_file(crl_path, ca_path.read_bytes(), at)
    t2 = time.perf_counter()
    index_path = crl_path.with_suffix(".idx")
    index.save(index_path)
    t3 = time.perf_counter()
    peak_rss = _peak_rss_mb()
    loaded = CrlIndex.load(index_path)
    t4 = time.perf_counter()
    probes = json.loads(probes_path.read_text())
    hits = sum(loaded.lookup(s) is not None for s in probes[:1000])  # warm up
    t5 = time.perf_counter()
    for serial in probes:
        loaded.lookup(serial)
    t6 = time.perf_counter()
    return {
        "entries": len(index),
        "crl_mb": crl_path.stat().st_size / 1e6,
        "index_file_mb": index_path.stat().st_size / 1e6,
        "validate_and_index_s": t2 - t1,
        "save_s": t3 - t2,
        "load_s": t4 - t3,
        "lookup_us": (t6 - t5) / len(probes) * 1e6,
        "warmup_hits": hits,
        "rss_at_start_mb": start_rss,
        "rss_after_imports_mb": import_rss,
        "peak_rss_mb": peak_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/authsvc-bench-crl"))
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    t0 = time.perf_counter()
    crl_path, ca_path, serials = build(args.entries, args.workdir)
    rng = random.Random(1)
    probes = rng.sample(serials, min(50_000, len(serials))) + [rng.getrandbits(159) for _ in range(50_000)]
    probes_path = args.workdir / "probes.json"
    probes_path.write_text(json.dumps(probes))
    print(f"built {args.entries} entries in {time.perf_counter() - t0:.1f} s -> {crl_path}")
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(crl_path), str(ca_path), str(probes_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(child.stdout)
    for key, value in figures.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    ok = figures["validate_and_index_s"] < 10 and figures["peak_rss_mb"] < 100 and figures["lookup_us"] < 50
    print("targets (index < 10 s, peak RSS < 100 MB, lookup < 50 µs):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
