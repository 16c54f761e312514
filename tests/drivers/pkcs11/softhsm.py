"""Real SoftHSM2 for the tests: one temporary SOFTHSM2_CONF and token folder per test process.

libsofthsm2 reads SOFTHSM2_CONF once, at C_Initialize, and python-pkcs11 keeps one instance of a module
per process, so every test of a process shares this configuration; each test makes its own token (a
unique label) with the real provisioning command.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from drivers.pkcs11.provision import SOFTHSM_MODULE, write_conf
from tests.shared import REPO_ROOT

SO_PIN = "87654321"
PIN = "1234"
_HOME: Path | None = None


def softhsm_home() -> Path:
    """The process's SoftHSM2 folder (created, and SOFTHSM2_CONF pointed at it, on first use)."""
    global _HOME
    if _HOME is None:
        if not Path(SOFTHSM_MODULE).is_file():
            raise RuntimeError(f"{SOFTHSM_MODULE} missing: install Debian's softhsm2 (scripts/install.sh does)")
        home = Path(tempfile.mkdtemp(prefix="authsvc-softhsm-"))
        write_conf(home / "softhsm2.conf", home / "tokens")
        os.environ["SOFTHSM2_CONF"] = str(home / "softhsm2.conf")
        atexit.register(shutil.rmtree, home, True)
        _HOME = home
    return _HOME


@dataclass
class Provisioned:
    label: str
    serial: str
    objects: list[dict[str, Any]]


def provision(*args: str, label: str | None = None) -> Provisioned:
    """Run `python -m drivers.pkcs11.provision` (a separate process, as an operator would) for a new token."""
    import json

    home = softhsm_home()
    label = label or f"t-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), SOFTHSM2_CONF=str(home / "softhsm2.conf"))
    cmd = [sys.executable, "-m", "drivers.pkcs11.provision", "--label", label, "--so-pin", SO_PIN, "--pin", PIN, *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"provision failed ({done.returncode}): {done.stderr}")
    out = json.loads(done.stdout)
    # SoftHSM2 reads its token folder at C_Initialize: a module this process loaded earlier must start
    # again to see a token another process created (a hardware slot reports insertions by itself).
    reload_softhsm()
    return Provisioned(out["label"], out["serial"], out["objects"])


def reload_softhsm() -> None:
    import pkcs11

    if SOFTHSM_MODULE in pkcs11._loaded:
        pkcs11.lib(SOFTHSM_MODULE).reinitialize()


def token_dir(serial_or_label: str) -> Path:
    """The folder SoftHSM2 keeps a token in (moving it away is pulling the token out)."""
    for folder in (softhsm_home() / "tokens").iterdir():
        if folder.is_dir() and any(folder.iterdir()):
            token = folder / "token.object"
            if token.exists() and serial_or_label.encode() in token.read_bytes():
                return folder
    raise FileNotFoundError(serial_or_label)


def ec_pair(tmp: Path, *, iin: str = "900101300126", cn: str = "СЕРІКОВ АРМАН", days: int = 30) -> tuple[Path, Path]:
    """An EC P-256 key and an NCA-profile certificate for it from a throw-away test CA (PEM files)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TEST EC CA")])
    start = datetime.now(UTC) - timedelta(days=1)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.SURNAME, cn.split()[0]),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"IIN{iin}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "KZ"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, x509.ObjectIdentifier("1.2.398.3.3.4.1.1")]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"ec-{iin}.pem", tmp / f"ec-{iin}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
