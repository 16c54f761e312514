"""OpenSSL as an independent peer: CAs, leaves and CMS made by the `openssl` CLI, verified by our code."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms, x509
from asn1crypto import pem as asn1_pem

from authsvc.pki.cms import verify_cms
from authsvc.pki.path import PathValidator

CONTENT = "Договор займа № 1: 100 000 KZT\n".encode()
LEAF_EXT = """
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


@dataclass(frozen=True)
class Peer:
    folder: Path
    ca: bytes
    leaf: Path
    key: Path


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _make_pki(folder: Path, newkey: list[str]) -> Peer:
    folder.mkdir()
    _openssl("req", "-x509", *newkey, "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=Peer CA/O=OpenSSL peer", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)  # fmt: skip
    _openssl("req", "-new", *newkey, "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
             "-subj", "/CN=ИВАНОВ ИВАН/SN=ИВАНОВ/serialNumber=IIN811201401188/C=KZ", "-utf8", cwd=folder)  # fmt: skip
    (folder / "leaf.ext").write_text(LEAF_EXT)
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "leaf.pem", "-days", "10", "-extfile", "leaf.ext", "-sha256", cwd=folder)  # fmt: skip
    (folder / "content.bin").write_bytes(CONTENT)
    return Peer(folder, (folder / "ca.pem").read_bytes(), folder / "leaf.pem", folder / "leaf.key")


@pytest.fixture(scope="module", params=["rsa", "ecdsa-p256"])
def peer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    newkey = (
        ["-newkey", "rsa:2048"] if request.param == "rsa" else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    )
    yield _make_pki(tmp_path_factory.mktemp(request.param) / "pki", newkey)


def _sign(peer: Peer, *options: str) -> bytes:
    out = peer.folder / "out.p7s"
    _openssl("cms", "-sign", "-binary", "-in", "content.bin", "-signer", peer.leaf, "-inkey", peer.key,
             "-md", "sha256", "-outform", "DER", "-out", out, *options, cwd=peer.folder)  # fmt: skip
    return out.read_bytes()


VARIANTS = {
    "attached+attrs": ["-nodetach"],
    "attached-noattr": ["-nodetach", "-noattr"],
    "detached+attrs": [],
    "detached-noattr": ["-noattr"],
    "ski-signer-id": ["-nodetach", "-keyid"],
    "cades-signingCertificateV2": ["-nodetach", "-cades"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_openssl_cms_verifies(peer: Peer, variant: str) -> None:
    der = _sign(peer, *VARIANTS[variant])
    detached = "-nodetach" not in VARIANTS[variant]
    result = await verify_cms(
        der,
        validator=PathValidator([peer.ca]),
        content=CONTENT if detached else None,
        at=datetime.now(UTC),
        required_key_usage=("non_repudiation",),
    )
    assert result.valid, [(s.reasons, s.detail) for s in result.signers]
    assert result.detached == detached and result.content == CONTENT
    (signer,) = result.signers
    assert signer.signed_attributes == ("-noattr" not in VARIANTS[variant])
    assert signer.signer is not None and signer.signer.subject.iin == "811201401188"
    if "-cades" in VARIANTS[variant]:
        attrs = cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signed_attrs"]
        assert "signing_certificate_v2" in [a["type"].native for a in attrs]


@pytest.mark.parametrize("variant", ["detached+attrs", "detached-noattr"])
async def test_openssl_cms_with_other_content_fails(peer: Peer, variant: str) -> None:
    der = _sign(peer, *VARIANTS[variant])
    result = await verify_cms(der, validator=PathValidator([peer.ca]), content=CONTENT + b" ", at=datetime.now(UTC))
    expected = "message_digest_mismatch" if variant == "detached+attrs" else "bad_signature"
    assert not result.valid and expected in result.signers[0].reasons


async def test_openssl_leaf_outside_validity_is_expired_or_not_yet_valid(peer: Peer) -> None:
    der = _sign(peer, "-nodetach")
    validator = PathValidator([peer.ca])
    later = await verify_cms(der, validator=validator, at=datetime.now(UTC) + timedelta(days=20))
    earlier = await verify_cms(der, validator=validator, at=datetime.now(UTC) - timedelta(days=2))
    assert later.signers[0].reasons == ["expired"]
    assert earlier.signers[0].reasons == ["not_yet_valid"]


async def test_signing_certificate_v2_must_bind_the_signer(peer: Peer) -> None:
    """Certificate substitution: same key, issuer and serial, re-issued with other validity.

    The signature still verifies with the substitute's key, so only the ESS signingCertificateV2
    hash can catch it.
    """
    der = _sign(peer, "-nodetach", "-cades")
    leaf = x509.Certificate.load(asn1_pem.unarmor(peer.leaf.read_bytes())[2])
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-set_serial", str(leaf.serial_number), "-out", "twin.pem", "-days", "11",
             "-extfile", "leaf.ext", "-sha256", cwd=peer.folder)  # fmt: skip
    twin = x509.Certificate.load(asn1_pem.unarmor((peer.folder / "twin.pem").read_bytes())[2])
    assert twin.serial_number == leaf.serial_number and twin.dump() != leaf.dump()
    info = cms.ContentInfo.load(der)
    info["content"]["certificates"] = [twin]
    result = await verify_cms(info.dump(force=True), validator=PathValidator([peer.ca]), at=datetime.now(UTC))
    (signer,) = result.signers
    assert signer.signature_valid and not result.valid
    assert signer.reasons == ["signing_certificate_mismatch"]


@pytest.mark.parametrize("attached", [True, False])
async def test_openssl_rsa_pss_cms(tmp_path: Path, attached: bool) -> None:
    """RSASSA-PSS SignerInfo: hash, MGF1 and salt length come from the AlgorithmIdentifier parameters."""
    rsa_peer = _make_pki(tmp_path / "pss", ["-newkey", "rsa:2048"])
    der = _sign(rsa_peer, *(["-nodetach"] if attached else []), "-keyopt", "rsa_padding_mode:pss")
    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].native == "rsassa_pss"
    result = await verify_cms(
        der, validator=PathValidator([rsa_peer.ca]), content=None if attached else CONTENT, at=datetime.now(UTC)
    )
    assert result.valid, [(s.reasons, s.detail) for s in result.signers]
