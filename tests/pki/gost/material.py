"""Reading the real NCA GOST material for the GOST tests: certificates, their issuers, flipped copies."""

from __future__ import annotations

import base64
from functools import cache
from pathlib import Path

from asn1crypto import pem, x509

from tests.shared import fixture_path


def read(*parts: str) -> bytes:
    return fixture_path("nca", *parts).read_bytes()


def der(data: bytes) -> bytes:
    """DER from PEM or DER (several fixtures are PEM whatever their extension)."""
    if pem.detect(data):
        return bytes(pem.unarmor(data)[2])
    return data


def certificate(*parts: str) -> x509.Certificate:
    return x509.Certificate.load(der(read(*parts)))


def spki(cert: x509.Certificate) -> bytes:
    info: bytes = cert["tbs_certificate"]["subject_public_key_info"].dump()
    return info


@cache
def ca_certificates() -> tuple[x509.Certificate, ...]:
    folder = fixture_path("nca", "ncanode", "ca")
    return tuple(x509.Certificate.load(der(p.read_bytes())) for p in sorted(folder.iterdir()))


def issuers_of(name: x509.Name) -> list[x509.Certificate]:
    """Every shipped CA certificate whose subject is ``name`` (the same CA ships twice in places)."""
    return [ca for ca in ca_certificates() if ca.subject == name]


def all_certificate_files() -> list[Path]:
    root = fixture_path("nca")
    names = ("*.cer", "*.crt", "*.cert.pem")
    return sorted({p for pattern in names for p in root.rglob(pattern)})


def danikarik_gost_cms() -> list[Path]:
    return sorted(fixture_path("nca", "danikarik-ncanode-go").rglob("GOSTKNCA_*.cms"))


def cms_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return data if data[:1] == b"\x30" else base64.b64decode(data)


def flip(data: bytes, index: int = 0) -> bytes:
    """``data`` with one bit inverted at byte ``index`` (negative counts from the end)."""
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)
