"""Reading the real NCA GOST material for the GOST tests: certificates, their issuers, flipped copies."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from asn1crypto import cms, crl, ocsp, pem, x509

from authsvc.pki.gost import is_gost_signature_oid
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


@dataclass(frozen=True, slots=True)
class Signed:
    """One real GOST signature in the fixtures: who signed what, with which algorithm."""

    where: str
    spki: bytes
    algorithm: str
    data: bytes
    signature: bytes


def _certificate_signatures() -> Iterator[Signed]:
    root = fixture_path("nca")
    for path in all_certificate_files():
        cert = x509.Certificate.load(der(path.read_bytes()))
        algorithm = cert["signature_algorithm"]["algorithm"].dotted
        if not is_gost_signature_oid(algorithm):
            continue
        for issuer in {i.sha256: i for i in issuers_of(cert.issuer)}.values():
            tbs, value = cert["tbs_certificate"].dump(), cert["signature_value"].native
            yield Signed(f"cert {path.relative_to(root)}", spki(issuer), algorithm, tbs, value)


def _crl_signatures() -> Iterator[Signed]:
    for name in ("nca_gost_test.crl", "nca_gost2022_test.crl"):
        cert_list = crl.CertificateList.load(read("ncanode", "crl", name))
        algorithm = cert_list["signature_algorithm"]["algorithm"].dotted
        for issuer in {i.sha256: i for i in issuers_of(cert_list.issuer)}.values():
            tbs, value = cert_list["tbs_cert_list"].dump(), cert_list["signature"].native
            yield Signed(f"crl {name}", spki(issuer), algorithm, tbs, value)


def _cms_signatures() -> Iterator[Signed]:
    root = fixture_path("nca")
    files = [
        fixture_path("nca", "ncanode", "cms", "SIGNED_CMS.p7s"),
        fixture_path("nca", "ncanode", "cms", "SIGNED_DETACHED_CMS.p7s"),
        fixture_path("nca", "ncanode", "tsp", "tsp_token.bin"),
        *danikarik_gost_cms(),
    ]
    for path in files:
        signed = cms.ContentInfo.load(cms_bytes(path))["content"]
        certs = [c.chosen for c in signed["certificates"] if c.name == "certificate"]
        for signer in signed["signer_infos"]:
            algorithm = signer["signature_algorithm"]["algorithm"].dotted
            if not is_gost_signature_oid(algorithm):
                continue
            sid = signer["sid"].chosen
            (cert,) = [c for c in certs if c.issuer == sid["issuer"] and c.serial_number == sid["serial_number"].native]
            attrs = bytearray(signer["signed_attrs"].dump())
            attrs[0] = 0x31  # the signature covers the attributes as a SET OF
            yield Signed(
                f"cms {path.relative_to(root)}", spki(cert), algorithm, bytes(attrs), signer["signature"].native
            )


def _ocsp_signatures() -> Iterator[Signed]:
    for path in sorted(fixture_path("nca", "ncanode", "ocsp").iterdir()):
        basic = ocsp.OCSPResponse.load(path.read_bytes())["response_bytes"]["response"].parsed
        algorithm = basic["signature_algorithm"]["algorithm"].dotted
        if not is_gost_signature_oid(algorithm):
            continue
        responder = basic["certs"][0]
        tbs, value = basic["tbs_response_data"].dump(), basic["signature"].native
        yield Signed(f"ocsp {path.name}", spki(responder), algorithm, tbs, value)
        responder_alg = responder["signature_algorithm"]["algorithm"].dotted
        for issuer in {i.sha256: i for i in issuers_of(responder.issuer)}.values():
            tbs, value = responder["tbs_certificate"].dump(), responder["signature_value"].native
            yield Signed(f"ocsp responder of {path.name}", spki(issuer), responder_alg, tbs, value)


@cache
def gost_signatures() -> tuple[Signed, ...]:
    """Every GOST signature in the NCA fixtures: certificates, CRLs, CMS (and the TSP token), OCSP."""
    return (*_certificate_signatures(), *_crl_signatures(), *_cms_signatures(), *_ocsp_signatures())
