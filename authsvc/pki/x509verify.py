"""Raw signature plus certificate verification (NCANode's ``/x509/verify`` equivalent, R-7.1).

For challenge-response log-ins: the client signs a server nonce with its key and sends the bare
signature and its certificate. The signature algorithm defaults from the certificate's key
(GOST keys have exactly one; RSA defaults to SHA-256, EC to ECDSA-SHA256).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from asn1crypto import x509
from pydantic import BaseModel

from authsvc.pki.algorithms import UnsupportedAlgorithm, verify_signature
from authsvc.pki.certinfo import CertInfo, cert_info, load_certificate
from authsvc.pki.path import PathResult, PathValidator

__all__ = ["RawVerifyResult", "default_signature_algorithm", "verify_raw"]

_DEFAULT_BY_KEY: Final = {
    "rsa": "1.2.840.113549.1.1.11",
    "ec": "1.2.840.10045.4.3.2",
    "gost2004": "1.2.398.3.10.1.1.1.2",
}


class RawVerifyResult(BaseModel):
    valid: bool
    signature_valid: bool
    reasons: list[str] = []
    detail: str = ""
    signature_algorithm: str | None = None
    signer: CertInfo
    path: PathResult | None = None


def default_signature_algorithm(info: CertInfo) -> str:
    """The signature OID implied by the certificate's key (raises UnsupportedAlgorithm if none)."""
    key = info.public_key
    if key.algorithm == "gost2015":
        return "1.2.398.3.10.1.1.2.3.2" if key.size == 512 else "1.2.398.3.10.1.1.2.3.1"
    if key.algorithm in _DEFAULT_BY_KEY:
        return _DEFAULT_BY_KEY[key.algorithm]
    raise UnsupportedAlgorithm(f"no default signature algorithm for key {key.algorithm_oid}")


async def verify_raw(
    certificate: bytes | str | x509.Certificate,
    data: bytes,
    signature: bytes,
    *,
    validator: PathValidator,
    signature_algorithm: str | None = None,
    at: datetime | None = None,
    required_key_usage: Sequence[str] = ("digital_signature",),
) -> RawVerifyResult:
    """Verify ``signature`` over ``data`` with the certificate's key, then the certificate's path.

    Unreadable certificates raise CertificateParseError/BadEncoding (400); everything else is a result.
    """
    cert = load_certificate(certificate)
    info = cert_info(cert)
    result = RawVerifyResult(valid=False, signature_valid=False, signer=info)
    try:
        result.signature_algorithm = signature_algorithm or default_signature_algorithm(info)
        result.signature_valid = verify_signature(cert.public_key, result.signature_algorithm, data, signature)
    except UnsupportedAlgorithm as exc:
        result.reasons.append("unsupported_algorithm")
        result.detail = exc.detail
        return result
    if not result.signature_valid:
        result.reasons.append("bad_signature")
    moment = at if at is not None else datetime.now(UTC)
    result.path = await validator.validate(cert, at=moment, required_key_usage=required_key_usage)
    result.reasons.extend(result.path.reasons)
    result.detail = result.path.detail
    result.valid = result.signature_valid and not result.reasons
    return result
