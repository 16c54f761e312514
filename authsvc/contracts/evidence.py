"""What is kept with an EDS contract signature, and how it is re-checked years later without the network.

Kept (sealed with the contract, R-12.2): the CMS itself (certificates, signed attributes and any RFC 3161
token travel inside it), the signer's validated chain up to the pinned anchor, the moment it was judged,
and the revocation evidence: the signed OCSP response (re-verified offline against the issuer), or the
CRL's (and delta CRL's) number and SHA-256: the CRL itself, ~19 MB at NCA, is kept once on disk by the CRL
cache's archive (`authsvc.pki.crl_archive`) and validated again from there.

Re-checking runs the same CMS verification in the process pool at the stored moment with only the pinned
anchors plus the stored chain (no AIA, no OCSP/CRL download), then re-verifies the stored OCSP response.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from authsvc.pki.ocsp import OcspError, build_ocsp_request, verify_ocsp_response
from authsvc.pki.service import SignerReport

__all__ = ["EdsEvidence", "RevocationEvidence", "evidence_of", "recheck_ocsp"]


class RevocationEvidence(BaseModel):
    source: Literal["ocsp", "crl", "none"]
    status: str
    checked_at: datetime
    ocsp_response: str | None = None  # base64 DER, signed by the responder
    issuer: str | None = None  # base64 DER of the certificate's issuer (to re-verify the response)
    crl_number: int | None = None
    crl_sha256: str | None = None
    delta_crl_number: int | None = None
    delta_crl_sha256: str | None = None


class EdsEvidence(BaseModel):
    """The sealed record of one EDS signature."""

    cms: str  # base64 DER
    detached: bool
    validated_at: datetime
    time_source: str | None
    chain: list[str]  # base64 DER, leaf first, anchor last
    revocation: list[RevocationEvidence]
    signer_serial: str
    signer_subject_type: str
    signer_roles: list[str]
    signature_algorithm: str | None
    timestamp: dict[str, Any] | None = None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def evidence_of(cms_der: bytes, detached: bool, signer: SignerReport) -> EdsEvidence:
    assert signer.certificate is not None and signer.validated_at is not None
    revocation = []
    for result in signer.revocation_evidence:
        item = RevocationEvidence(source=result.source.value, status=result.status.value, checked_at=result.checked_at)
        if result.source.value == "ocsp" and result.evidence is not None:
            item.ocsp_response = _b64(result.evidence)
            item.issuer = _b64(signer.chain_der[1]) if len(signer.chain_der) > 1 else None
        elif result.source.value == "crl":
            item.crl_number, item.crl_sha256 = result.crl_number, result.crl_sha256
            item.delta_crl_number, item.delta_crl_sha256 = result.delta_crl_number, result.delta_crl_sha256
            item.issuer = _b64(signer.chain_der[1]) if len(signer.chain_der) > 1 else None
        revocation.append(item)
    return EdsEvidence(
        cms=_b64(cms_der),
        detached=detached,
        validated_at=signer.validated_at,
        time_source=signer.time_source,
        chain=[_b64(d) for d in signer.chain_der],
        revocation=revocation,
        signer_serial=signer.certificate.serial_number,
        signer_subject_type=signer.certificate.subject_type,
        signer_roles=list(signer.certificate.roles),
        signature_algorithm=signer.signature_algorithm,
        timestamp=signer.timestamp.model_dump(mode="json") if signer.timestamp is not None else None,
    )


def recheck_ocsp(item: RevocationEvidence, leaf_der: bytes, at: datetime) -> str | None:
    """Re-verify a stored OCSP response offline (worker process: GOST responses cost milliseconds).

    Answers None when it still proves "good at ``at``", else a reason.
    """
    if item.ocsp_response is None or item.issuer is None:
        return "revocation_evidence_missing"
    issuer = base64.b64decode(item.issuer)
    request = build_ocsp_request(leaf_der, issuer, nonce=None)
    try:
        result = verify_ocsp_response(
            base64.b64decode(item.ocsp_response),
            request,
            issuer,
            item.checked_at,
            require_nonce=False,
            max_age=timedelta(days=1),
        )
    except OcspError:
        return "revocation_evidence_invalid"
    if result.status.value == "revoked" and (result.revocation_time is None or result.revocation_time <= at):
        return "revoked"
    if result.status.value == "unknown":
        return "revocation_unknown"
    return None
