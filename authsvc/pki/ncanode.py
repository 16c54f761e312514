"""NCANode 3.x compatibility: its requests as our verifier's arguments, our reports as its answers.

Pure functions, no I/O: the handlers in ``authsvc.api.ncanode`` parse the request into one of the models
below, call the verifier with :func:`revocation_of`'s order, and hand the report to ``cms_response`` /
``xml_response`` / ``x509_response``. Shapes follow NCANode's published OpenAPI document
(https://github.com/ncanode-kz/NCANode/blob/master/openapi.yml, schemas ``VerifyRequest``,
``CertificateInfo``, ``CmsSignerInfo``, ``TspInfo``, ``VerificationResponse``); KZ-PKI.md §4.

Where NCANode is weak we keep our verdict (KZ-PKI.md §4): ``valid`` comes from full path validation,
time-stamp checks and verified OCSP/CRL answers, so it can be ``false`` where NCANode said ``true``. The
translation is lossy by design; our own ``reasons`` are added per certificate as ``reasons`` (NCANode
clients ignore unknown fields) so a refusal can be explained. Bad input stays our problem+json 4xx.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from authsvc.pki.certinfo import CertInfo, NameInfo
from authsvc.pki.cms import TimestampVerdict
from authsvc.pki.reports import CertificateReport, CmsReport, RevocationOut, SignerReport, XmlReport

__all__ = [
    "CmsVerifyRequest",
    "VerificationResponse",
    "X509InfoRequest",
    "XmlVerifyRequest",
    "certificate_info",
    "cms_response",
    "revocation_of",
    "unwrap_pem",
    "x509_response",
    "xml_response",
]

MAX_B64: Final = 12 * 1024 * 1024
MAX_CERTS: Final = 20
Check = Literal["OCSP", "CRL"]


class _VerifyRequest(BaseModel):
    # NCANode ignores fields it does not know; so does the drop-in (an integrator's extra flags must not 422).
    model_config = ConfigDict(extra="ignore")
    revocationCheck: list[Check] = Field(  # NCANode's field name
        default_factory=list, max_length=2, description='["OCSP"], ["CRL"] or both, in order; [] (default): none'
    )


class CmsVerifyRequest(_VerifyRequest):
    cms: str = Field(min_length=1, max_length=MAX_B64, description="base64 of the CMS (DER), or PEM")
    data: str | None = Field(None, max_length=MAX_B64, description="base64 of the content of a detached CMS")


class XmlVerifyRequest(_VerifyRequest):
    xml: str = Field(min_length=1, max_length=MAX_B64, description="the signed XML document")


class X509InfoRequest(_VerifyRequest):
    certs: list[str] = Field(min_length=1, max_length=MAX_CERTS, description="certificates, base64 of DER or PEM")


class VerificationResponse(BaseModel):
    """NCANode's answer (for the OpenAPI document; the handlers return the dicts built below)."""

    status: int = Field(description="200, as NCANode's ResponseStatus")
    message: str = Field(description='"OK"')
    valid: bool
    signers: list[dict[str, Any]] = Field(
        description="/cms/verify: [{certificates: [CertificateInfo…], tsp: TspInfo}]; "
        "/xml/verify and /x509/info: [CertificateInfo…]"
    )


def unwrap_pem(value: str) -> str:
    """NCANode's own examples send a certificate as base64 *of the PEM text* (``LS0tLS1CRUdJTi…``): hand
    the PEM on; anything else (base64 of DER, PEM) is returned as it came."""
    compact = "".join(value.split())
    if not compact.startswith("LS0tLS1"):  # base64 of "-----"
        return value
    try:
        text = base64.b64decode(compact, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return value
    return text if text.lstrip().startswith("-----BEGIN") else value


def revocation_of(request: _VerifyRequest) -> list[Literal["ocsp", "crl"]]:
    """NCANode's ``revocationCheck`` as our source order (``authsvc.pki.service.order_for``'s input)."""
    return ["ocsp" if check == "OCSP" else "crl" for check in request.revocationCheck]


# Java's names for the algorithms (NCANode reports X509Certificate.getSigAlgName() and TSP digest names).
SIGN_ALG: Final = {
    "1.2.840.113549.1.1.5": "SHA1WITHRSA",
    "1.2.840.113549.1.1.11": "SHA256WITHRSA",
    "1.2.840.113549.1.1.12": "SHA384WITHRSA",
    "1.2.840.113549.1.1.13": "SHA512WITHRSA",
    "1.2.398.3.10.1.1.1.2": "ECGOST34310",
    "1.3.6.1.4.1.6801.1.2.2": "ECGOST34310",
    "1.2.398.3.10.1.1.2.3.1": "GOST3410-2015-256",
    "1.2.398.3.10.1.1.2.3.2": "GOST3410-2015-512",
}
HASH_ALG: Final = {
    "1.3.14.3.2.26": "SHA1",
    "2.16.840.1.101.3.4.2.1": "SHA256",
    "2.16.840.1.101.3.4.2.2": "SHA384",
    "2.16.840.1.101.3.4.2.3": "SHA512",
    "1.2.398.3.10.1.3.1": "GOST34311",
    "1.2.398.3.10.1.3.2": "GOST3411-2015-256",
    "1.2.398.3.10.1.3.3": "GOST3411-2015-512",
}
# Extended key usage → NCANode's keyUser (CertificateKeyUser enum); KZ-PKI.md §1.
KEY_USER: Final = {
    "1.2.398.3.3.4.1.1": "INDIVIDUAL",
    "1.2.398.3.3.4.1.2": "ORGANIZATION",
    "1.2.398.3.3.4.1.2.1": "CEO",
    "1.2.398.3.3.4.1.2.2": "CAN_SIGN",
    "1.2.398.3.3.4.1.2.3": "CAN_SIGN_FINANCIAL",
    "1.2.398.3.3.4.1.2.4": "HR",
    "1.2.398.3.3.4.1.2.5": "EMPLOYEE",
    "1.2.398.3.3.4.2": "NCA_PRIVILEGES",
    "1.2.398.3.3.4.2.1": "NCA_ADMIN",
    "1.2.398.3.3.4.2.2": "NCA_MANAGER",
    "1.2.398.3.3.4.2.3": "NCA_OPERATOR",
    "1.2.398.3.3.4.3": "IDENTIFICATION",
    "1.2.398.3.3.4.3.1": "IDENTIFICATION_CON",
    "1.2.398.3.3.4.3.2": "IDENTIFICATION_REMOTE",
    "1.2.398.3.3.4.3.2.1": "IDENTIFICATION_REMOTE_DIGITAL_ID",
}
_GENDER: Final = {"male": "MALE", "female": "FEMALE", None: "NONE"}


def timestamp(moment: datetime | None) -> str | None:
    """NCANode's date format: ``2022-05-02T08:38:13.000+00:00`` (UTC, milliseconds)."""
    if moment is None:
        return None
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+00:00"


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def subject(name: NameInfo) -> dict[str, Any]:
    """CertificateSubject: lastName is GIVENNAME (the patronymic, as NCANode reads it), surName SURNAME."""
    return _compact(
        {
            "commonName": name.common_name,
            "lastName": name.patronymic,
            "surName": name.surname,
            "email": name.email,
            "organization": name.organization,
            "gender": _GENDER[name.gender],
            "iin": name.iin,
            "bin": name.bin,
            "country": name.country,
            "locality": name.locality,
            "state": name.state,
            "dn": name.dn,
        }
    )


def revocations(items: Sequence[RevocationOut], serial: str) -> list[dict[str, Any]]:
    """CertificateRevocationStatus per answer about the certificate ``serial`` (sources that answered)."""
    out = []
    for item in items:
        if item.serial != serial or item.source == "none":
            continue
        out.append(
            {
                "revoked": item.revoked,
                "by": item.source.upper(),
                "revocationTime": timestamp(item.revocation_time),
                "reason": item.reason,
            }
        )
    return out


def certificate_info(
    cert: CertInfo,
    *,
    valid: bool,
    revocation: Sequence[RevocationOut] = (),
    reasons: Sequence[str] = (),
) -> dict[str, Any]:
    """NCANode's CertificateInfo for one certificate, plus our ``reasons`` when it is not valid."""
    info: dict[str, Any] = {
        "valid": valid,
        "revocations": revocations(revocation, cert.serial_number),
        "notBefore": timestamp(cert.not_before),
        "notAfter": timestamp(cert.not_after),
        "keyUsage": cert.key_usage_class,
        "serialNumber": format(int(cert.serial_number, 16), "x"),  # Java's BigInteger.toString(16)
        "signAlg": SIGN_ALG.get(cert.signature_algorithm, cert.signature_algorithm),
        "keyUser": sorted({KEY_USER[o] for o in cert.extended_key_usage if o in KEY_USER}),
        "publicKey": cert.public_key_b64,
        "signature": cert.signature_b64,
        "subject": subject(cert.subject),
        "issuer": subject(cert.issuer),
    }
    if reasons:
        info["reasons"] = list(reasons)
    return info


def _in_validity(cert: CertInfo, at: datetime | None) -> bool:
    moment = at or datetime.now(UTC)
    return cert.not_before <= moment <= cert.not_after


def tsp_info(verdict: TimestampVerdict | None) -> dict[str, Any] | None:
    """TspInfo of a signer's signature time stamp (only when the token could be read and checked)."""
    if verdict is None or not verdict.valid:
        return None
    details = verdict.details
    hash_oid = str(details.get("hash_algorithm", ""))
    return {
        "serialNumber": details.get("serial"),
        "genTime": timestamp(verdict.gen_time),
        "policy": details.get("policy"),
        "tsa": details.get("tsa"),
        "tspHashAlgorithm": HASH_ALG.get(hash_oid, hash_oid or None),
        "hash": details.get("hash"),
    }


def _signer_certificates(signer: SignerReport) -> list[dict[str, Any]]:
    """The signer's certificate first (with the signer's verdict), then the CA certificates of its path."""
    if signer.certificate is None:
        return []
    leaf = certificate_info(
        signer.certificate, valid=signer.valid, revocation=signer.revocations, reasons=signer.reasons
    )
    rest = [
        certificate_info(c, valid=_in_validity(c, signer.validated_at), revocation=signer.revocations)
        for c in signer.chain
        if c.fingerprint_sha256 != signer.certificate.fingerprint_sha256
    ]
    return [leaf, *rest]


def _ok(valid: bool, signers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"status": 200, "message": "OK", "valid": valid, "signers": signers}


def cms_response(report: CmsReport) -> dict[str, Any]:
    """CmsVerificationResponse: per signer ``{certificates: [...], tsp}``."""
    signers = []
    for signer in report.signers:
        entry: dict[str, Any] = {"certificates": _signer_certificates(signer)}
        tsp = tsp_info(signer.timestamp)
        if tsp is not None:
            entry["tsp"] = tsp
        signers.append(entry)
    return _ok(report.valid, signers)


def xml_response(report: XmlReport) -> dict[str, Any]:
    """VerificationResponse of /xml/verify: one CertificateInfo per signature's signer."""
    signers = [
        certificate_info(s.certificate, valid=s.valid, revocation=s.revocations, reasons=s.reasons)
        for s in report.signatures
        if s.certificate is not None
    ]
    return _ok(report.valid, signers)


def x509_response(reports: Sequence[CertificateReport]) -> dict[str, Any]:
    """VerificationResponse of /x509/info: one CertificateInfo per certificate sent, in order."""
    signers = [
        certificate_info(r.certificate, valid=r.valid, revocation=r.revocations, reasons=r.reasons) for r in reports
    ]
    return _ok(all(r.valid for r in reports), signers)
