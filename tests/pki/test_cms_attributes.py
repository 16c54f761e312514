"""Signed-attribute rules (RFC 5652 §5.3-5.4, RFC 2634/5035 ESS) on CMS built here with asn1crypto + pyca.

OpenSSL cannot be made to write a wrong content-type or an ESS v1 attribute, so these are assembled
field by field; the signature itself is real (RSA PKCS#1 v1.5 over DER(signedAttrs as SET)).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from asn1crypto import cms, tsp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from authsvc.pki.cms import verify_cms
from authsvc.pki.path import PathValidator
from tests.pki.certmaker import Issued, issue, rsa_key

CONTENT = b"loan agreement v1"


def _signer() -> tuple[Issued, Issued, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    root = issue("Root", rsa_key(), ca=True)
    leaf = issue(
        "Signer",
        (spki, lambda d: key.sign(d, padding.PKCS1v15(), hashes.SHA256()), "1.2.840.113549.1.1.11"),
        root,
        serial=77,
    )
    return root, leaf, key


@pytest.fixture(scope="module")
def pki() -> tuple[Issued, Issued, rsa.RSAPrivateKey]:
    return _signer()


def _build(
    leaf: Issued,
    key: rsa.RSAPrivateKey,
    *,
    attrs: list[dict[str, Any]],
    sid: str = "issuer_and_serial_number",
    content_type: str = "data",
) -> bytes:
    """``content_type`` other than data is patched into eContentType only (the signed attribute stays)."""
    signed_attrs = cms.CMSAttributes(attrs)
    signature = key.sign(b"\x31" + signed_attrs.dump()[1:], padding.PKCS1v15(), hashes.SHA256())
    if sid == "issuer_and_serial_number":
        signer_id = cms.SignerIdentifier(
            {"issuer_and_serial_number": {"issuer": leaf.cert.issuer, "serial_number": leaf.cert.serial_number}}
        )
    else:
        signer_id = cms.SignerIdentifier({"subject_key_identifier": hashlib.sha1(leaf.spki).digest()})
    signer_info = cms.SignerInfo(
        {
            "version": "v1" if sid == "issuer_and_serial_number" else "v3",
            "sid": signer_id,
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "rsassa_pkcs1v15"},
            "signature": signature,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "data", "content": CONTENT},
            "certificates": [leaf.cert],
            "signer_infos": [signer_info],
        }
    )
    der = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    if content_type != "data":
        data_oid, other_oid = (cms.ContentType(t).dump() for t in ("data", content_type))
        assert len(data_oid) == len(other_oid)
        der = der.replace(data_oid, other_oid, 1)  # the first occurrence is eContentType
    return bytes(der)


def _attrs(
    leaf: Issued, *, digest: bytes | None = None, ctype: str = "data", ess_v1: bytes | None = None
) -> list[dict[str, Any]]:
    attrs: list[dict[str, Any]] = [
        {"type": "content_type", "values": [ctype]},
        {"type": "signing_time", "values": [cms.Time({"utc_time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})]},
        {"type": "message_digest", "values": [digest if digest is not None else hashlib.sha256(CONTENT).digest()]},
    ]
    if ess_v1 is not None:
        attrs.append(
            {"type": "signing_certificate", "values": [tsp.SigningCertificate({"certs": [{"cert_hash": ess_v1}]})]}
        )
    return attrs


async def _verify(root: Issued, der: bytes) -> tuple[bool, list[str], datetime | None]:
    result = await verify_cms(der, validator=PathValidator([root.cert]), at=datetime.now(UTC))
    (signer,) = result.signers
    return result.valid, signer.reasons, signer.signing_time


async def test_ess_v1_binding_and_signing_time(pki: tuple[Issued, Issued, rsa.RSAPrivateKey]) -> None:
    root, leaf, key = pki
    good = _build(leaf, key, attrs=_attrs(leaf, ess_v1=hashlib.sha1(leaf.cert.dump()).digest()))
    assert await _verify(root, good) == (True, [], datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    other = _build(leaf, key, attrs=_attrs(leaf, ess_v1=hashlib.sha1(root.cert.dump()).digest()))
    assert (await _verify(root, other))[:2] == (False, ["signing_certificate_mismatch"])


async def test_subject_key_identifier_signer(pki: tuple[Issued, Issued, rsa.RSAPrivateKey]) -> None:
    """certmaker writes no SKI extension, so an SKI sid cannot find the certificate: a named failure."""
    root, leaf, key = pki
    der = _build(leaf, key, attrs=_attrs(leaf), sid="subject_key_identifier")
    assert (await _verify(root, der))[:2] == (False, ["signer_certificate_missing"])


@pytest.mark.parametrize(
    ("kwargs", "content_type", "reason"),
    [
        ({"ctype": "signed_data"}, "data", "content_type_mismatch"),
        ({"digest": b"\x00" * 32}, "data", "message_digest_mismatch"),
        ({}, "digested_data", "content_type_mismatch"),
    ],
    ids=["attr-says-signed-data", "wrong-digest", "econtent-type-differs"],
)
async def test_signed_attribute_rules(
    pki: tuple[Issued, Issued, rsa.RSAPrivateKey], kwargs: dict[str, Any], content_type: str, reason: str
) -> None:
    root, leaf, key = pki
    der = _build(leaf, key, attrs=_attrs(leaf, **kwargs), content_type=content_type)
    valid, reasons, _ = await _verify(root, der)
    assert not valid and reasons == [reason]


async def test_missing_message_digest(pki: tuple[Issued, Issued, rsa.RSAPrivateKey]) -> None:
    root, leaf, key = pki
    attrs = [a for a in _attrs(leaf) if a["type"] != "message_digest"]
    valid, reasons, _ = await _verify(root, _build(leaf, key, attrs=attrs))
    assert not valid and reasons == ["message_digest_missing"]
