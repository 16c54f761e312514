"""CMS SignedData assembly (RFC 5652) shared by the TSA (TSTInfo content) and the client-side
signer (data content): one SignerInfo with signed attributes, signed by any `Signer`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime

from asn1crypto import cms, core, tsp, x509

from simulators.nca.keys import Signer


def signing_certificate_v2(certificate: x509.Certificate) -> tsp.SigningCertificateV2:
    """RFC 5035 ESSCertIDv2 with the default SHA-256 hash (so hashAlgorithm is omitted)."""
    issuer_serial = {
        "issuer": [x509.GeneralName(name="directory_name", value=certificate.issuer)],
        "serial_number": certificate.serial_number,
    }
    cert_id = {"cert_hash": hashlib.sha256(certificate.dump()).digest(), "issuer_serial": issuer_serial}
    return tsp.SigningCertificateV2({"certs": [cert_id]})


def build_signed_data(
    signer: Signer,
    certificate: x509.Certificate,
    *,
    content: bytes,
    content_type: str = "data",
    detached: bool = False,
    signing_time: datetime | None = None,
    with_signing_certificate: bool = True,
    certificates: Sequence[x509.Certificate] = (),
    include_signer_certificate: bool = True,
    unsigned_attributes: Callable[[bytes], list[dict[str, object]]] | None = None,
) -> cms.ContentInfo:
    """SignedData over `content`. Signed attributes are contentType, signingTime, messageDigest and
    (optionally) signingCertificateV2; the signature covers their DER re-tagged as SET (RFC 5652 §5.4).
    `unsigned_attributes` gets the signature value (to time-stamp it) and returns attributes to add."""
    attributes: list[dict[str, object]] = [
        {"type": "content_type", "values": [content_type]},
    ]
    if signing_time is not None:
        attributes.append({"type": "signing_time", "values": [cms.Time(name="utc_time", value=signing_time)]})
    attributes.append({"type": "message_digest", "values": [signer.digest(content)]})
    if with_signing_certificate:
        attributes.append({"type": "signing_certificate_v2", "values": [signing_certificate_v2(certificate)]})
    signed_attrs = cms.CMSAttributes(attributes)
    signature = signer.sign(signed_attrs.dump())
    info: dict[str, object] = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": certificate.issuer, "serial_number": certificate.serial_number},
        ),
        "digest_algorithm": signer.digest_algorithm(),
        "signed_attrs": signed_attrs,
        "signature_algorithm": signer.signature_algorithm(),
        "signature": signature,
    }
    if unsigned_attributes is not None:
        info["unsigned_attrs"] = cms.CMSAttributes(unsigned_attributes(signature))
    signer_info = cms.SignerInfo(info)
    encap: dict[str, object] = {"content_type": content_type}
    if not detached:
        if content_type == "data":
            encap["content"] = core.OctetString(content)
        else:
            encap["content"] = core.ParsableOctetString(content)
    all_certs = ([certificate] if include_signer_certificate else []) + list(certificates)
    signed_data = cms.SignedData(
        {
            # RFC 5652 §5.1: v3 when eContentType is not id-data, else v1.
            "version": "v1" if content_type == "data" else "v3",
            "digest_algorithms": [signer.digest_algorithm()],
            "encap_content_info": encap,
            "certificates": [cms.CertificateChoices(name="certificate", value=c) for c in all_certs],
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
