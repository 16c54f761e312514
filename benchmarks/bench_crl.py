"""CRL index benchmark: a synthetic NCA-sized CRL (500,000 entries, ~19 MB), RSA- or GOST-signed.

Measures, in a fresh child process so the figures are the indexer's own: validate (parse + signature
+ issuer + freshness) and index time, peak RSS, saved-index load time, and lookup latency.

    .venv/bin/python benchmarks/bench_crl.py [--entries 500000] [--workdir /tmp/authsvc-bench-crl]
        [--gost [--no-native | --no-engine]]

``--gost`` signs the CRL as NCA's GOST CA does (GOST 34.10-2015-512 over Streebog-512, inner
AlgorithmIdentifier without parameters, outer with NULL) with the key of the NCA simulator's GOST
intermediate CA (`simulators.nca.ca.create_family`). ``--no-engine`` runs the child with an OpenSSL that
finds neither the gost engine nor the gost provider, and this package's C verifier off (pure-Python Streebog
and GOST R 34.10; issue 17); ``--no-native`` only the C verifier off (``AUTHSVC_GOST_NATIVE=off``). The CRL
carries one signature by a key the child meets once, so the engine judges it where it loads either way.

Targets (issue: EDS against the NCA PKI): index < 10 s, peak RSS < 100 MB, lookup < 50 µs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import core
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


class _RsaCa:
    inner_algorithm = outer_algorithm = bytes.fromhex("300d06092a864886f70d01010b0500")

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ҰЛТТЫҚ КУӘЛАНДЫРУШЫ ОРТАЛЫҚ (RSA) BENCH")])
        self.name_der = name.public_bytes()
        self.cert_der = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(THIS_UPDATE - timedelta(days=365))
            .not_valid_after(THIS_UPDATE + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )

    def sign(self, tbs: bytes) -> bytes:
        return self.key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())


class _GostCa:
    """The NCA simulator's GOST-2015 intermediate CA (its key signs the CRL, as NCA's does)."""

    def __init__(self) -> None:
        from simulators.nca.ca import Urls, create_family

        family = create_family("gost2015", Urls("http://nca.bench"), THIS_UPDATE - timedelta(days=30))
        self._signer = family.intermediate.signer
        self.name_der = bytes(family.intermediate.certificate.subject.dump())
        self.cert_der = bytes(family.intermediate.certificate.dump())
        oid = bytes(core.ObjectIdentifier("1.2.398.3.10.1.1.2.3.2").dump())  # GOST 34.10-2015-512
        self.inner_algorithm = _tlv(0x30, oid)  # NCA writes the inner one without parameters
        self.outer_algorithm = _tlv(0x30, oid + b"\x05\x00")  # and the outer one with NULL

    def sign(self, tbs: bytes) -> bytes:
        return bytes(self._signer.sign(tbs))


def build(entries: int, workdir: Path, *, gost: bool = False) -> tuple[Path, Path, list[int]]:
    """Assemble the CRL DER directly (cryptography's builder is quadratic in the entry count)."""
    ca: _RsaCa | _GostCa = _GostCa() if gost else _RsaCa()
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
    number_ext = _tlv(0x30, bytes.fromhex("0603551d14") + _tlv(0x04, _tlv(0x02, b"\x07")))
    tbs = _tlv(
        0x30,
        b"\x02\x01\x01"
        + ca.inner_algorithm
        + ca.name_der
        + _utc(THIS_UPDATE)
        + _utc(THIS_UPDATE + timedelta(days=2))
        + revoked
        + _tlv(0xA0, _tlv(0x30, number_ext)),
    )
    signature = ca.sign(tbs)
    crl = _tlv(0x30, tbs + ca.outer_algorithm + _tlv(0x03, b"\x00" + signature))
    workdir.mkdir(parents=True, exist_ok=True)
    crl_path, ca_path = workdir / "bench.crl", workdir / "bench-ca.der"
    crl_path.write_bytes(crl)
    ca_path.write_bytes(ca.cert_der)
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
    parser.add_argument("--gost", action="store_true", help="sign with the NCA simulator's GOST-2015 CA key")
    parser.add_argument("--no-engine", action="store_true", help="child without OpenSSL's gost engine/provider")
    parser.add_argument("--no-native", action="store_true", help="child with AUTHSVC_GOST_NATIVE=off")
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    t0 = time.perf_counter()
    crl_path, ca_path, serials = build(args.entries, args.workdir, gost=args.gost)
    rng = random.Random(1)
    probes = rng.sample(serials, min(50_000, len(serials))) + [rng.getrandbits(159) for _ in range(50_000)]
    probes_path = args.workdir / "probes.json"
    probes_path.write_text(json.dumps(probes))
    print(f"built {args.entries} entries in {time.perf_counter() - t0:.1f} s -> {crl_path}")
    env = dict(os.environ)
    empty = tempfile.mkdtemp(prefix="no-openssl-modules-")
    if args.no_engine or args.no_native:
        env["AUTHSVC_GOST_NATIVE"] = "off"
    if args.no_engine:  # OpenSSL looks for the gost engine and provider in an empty folder
        env |= {"OPENSSL_ENGINES": empty, "OPENSSL_MODULES": empty}
        env.pop("OPENSSL_CONF", None)
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(crl_path), str(ca_path), str(probes_path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    os.rmdir(empty)
    print("signature:", "GOST 2015 512 / Streebog-512" if args.gost else "RSA 2048 / SHA-256", end="")
    child_path = "pure Python GOST" if args.no_engine else "OpenSSL gost engine where loaded"
    print(f" | child: {child_path}" + ("" if args.no_engine or args.no_native else ", C verifier on"))
    figures = json.loads(child.stdout)
    for key, value in figures.items():
        print(f"{key:>22}: {value:.3f}" if isinstance(value, float) else f"{key:>22}: {value}")
    ok = figures["validate_and_index_s"] < 10 and figures["peak_rss_mb"] < 100 and figures["lookup_us"] < 50
    print("targets (index < 10 s, peak RSS < 100 MB, lookup < 50 µs):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
