"""What EDS verification answers (R-7.1): per signer a superset of NCANode's fields (KZ-PKI.md §4) —
validity and named reasons, the certificate (subject IIN/BIN/names, roles, key usage, validity, serial,
algorithm), the validated chain, revocation answers with their source and time, the time-stamp verdict.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from authsvc.pki.certinfo import CertInfo
from authsvc.pki.cms import TimestampVerdict
from authsvc.pki.revocation import RevocationResult

__all__ = ["CertificateReport", "CmsReport", "RevocationOut", "SignerReport", "XmlReport"]


def _hex(serial: int) -> str:
    """Upper-case hex of even length, as certificate serials are shown everywhere else."""
    text = format(serial, "X")
    return text if len(text) % 2 == 0 else "0" + text


class RevocationOut(BaseModel):
    """One revocation answer, as NCANode's ``revocations[]`` plus where and when it came from."""

    serial: str
    status: Literal["good", "revoked", "unknown"]
    revoked: bool
    source: Literal["ocsp", "crl", "none"]
    checked_at: datetime
    revocation_time: datetime | None = None
    reason: str | None = None
    revoked_after_validation_time: bool = False
    crl_number: int | None = None
    delta_crl_number: int | None = None
    errors: list[str] = []

    @classmethod
    def of(cls, result: RevocationResult) -> RevocationOut:
        return cls(
            serial=_hex(result.serial),
            status=result.status.value,
            revoked=result.status.value == "revoked",
            source=result.source.value,
            checked_at=result.checked_at,
            revocation_time=result.revocation_time,
            reason=result.revocation_reason,
            revoked_after_validation_time=result.revoked_after_at,
            crl_number=result.crl_number,
            delta_crl_number=result.delta_crl_number,
            errors=list(result.errors),
        )


class SignerReport(BaseModel):
    """Everything known about one signer; ``revocation_evidence`` (OCSP DER / CRL facts) is kept, not shown."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    valid: bool
    reasons: list[str]
    detail: str = ""
    signature_valid: bool
    certificate: CertInfo | None
    chain: list[CertInfo] = []
    revocations: list[RevocationOut] = []
    signing_time: datetime | None = None
    validated_at: datetime | None = None
    time_source: str | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    signed_attributes: bool | None = None
    timestamp: TimestampVerdict | None = None
    revocation_evidence: list[RevocationResult] = Field(default_factory=list, exclude=True)
    chain_der: list[bytes] = Field(default_factory=list, exclude=True)


class CmsReport(BaseModel):
    valid: bool
    reasons: list[str]
    detached: bool
    content_type: str
    signers: list[SignerReport]
    content: bytes | None = Field(default=None, exclude=True)


class XmlReport(BaseModel):
    valid: bool
    reasons: list[str]
    signatures: list[SignerReport]


class CertificateReport(BaseModel):
    valid: bool
    reasons: list[str]
    detail: str = ""
    certificate: CertInfo
    chain: list[CertInfo] = []
    revocations: list[RevocationOut] = []
    validated_at: datetime
