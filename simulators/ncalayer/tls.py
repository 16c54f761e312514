"""The TLS certificate NCALayer's local socket presents, made at start: a self-signed P-256 certificate for
127.0.0.1 and localhost. A test browser trusts it by its key (Chromium's
``--ignore-certificate-errors-spki-list=<spki_sha256>``), as a client's browser trusts the real NCALayer's
after its installer adds it."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class LocalCertificate:
    cert_pem: bytes
    key_pem: bytes
    spki_sha256: str  # base64 of SHA-256 over the SubjectPublicKeyInfo (what Chromium's flag takes)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # ssl loads a chain only from files: write them to a private temporary directory for the call.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
            cert.write_bytes(self.cert_pem)
            key.write_bytes(self.key_pem)
            key.chmod(0o600)
            context.load_cert_chain(cert, key)
        return context


def _spki_sha256(cert: x509.Certificate) -> str:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def kept_certificate(directory: Path, days: int = 30) -> LocalCertificate:
    """The certificate kept in ``directory`` (``cert.pem``, ``key.pem``) while it has a day left, else a new
    one written there: a browser told to trust its key (or a curl given ``--cacert cert.pem``) keeps
    trusting the simulator across restarts."""
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if cert.not_valid_after_utc - datetime.now(UTC) > timedelta(days=1):
            return LocalCertificate(cert_path.read_bytes(), key_path.read_bytes(), _spki_sha256(cert))
    made = make_certificate(days)
    directory.mkdir(parents=True, exist_ok=True)
    key_path.touch(mode=0o600)
    key_path.chmod(0o600)
    key_path.write_bytes(made.key_pem)
    cert_path.write_bytes(made.cert_pem)
    return made


def make_certificate(days: int = 7) -> LocalCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1 (NCALayer simulator)")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return LocalCertificate(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        _spki_sha256(cert),
    )
