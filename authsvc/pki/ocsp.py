"""OCSP (RFC 6960) requests and fully checked responses for the NCA RK responder (R-7.1, KZ-PKI.md §3-4).

NCANode trusted any OCSP answer; here a response counts only when its signature verifies with the CA's
key or with a delegated responder certificate that the CA issued for id-kp-OCSPSigning, the CertID
matches what was asked, the nonce is echoed (NCA echoes it), and thisUpdate is recent (NCA sends no
nextUpdate). NCA answers certificates it does not know as revoked/certificateHold at 1970-01-01
(RFC 6960 §2.2 "revoked" for non-issued certificates): that is reported as **unknown**.

Everything here is synchronous and takes plain bytes, so it can run in a worker process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

from asn1crypto import algos, core, ocsp, x509

from authsvc import error_codes
from authsvc.errors import AuthsvcError, UpstreamUnavailable
from authsvc.pki import algorithms
from authsvc.pki.crl_index import (
    CertParts,
    DerError,
    cert_parts,
    certificate_der,
    der_content,
    der_fields,
    raw_extensions,
)

__all__ = [
    "CertIdKey",
    "OcspError",
    "OcspRequest",
    "OcspResult",
    "OcspStatus",
    "build_ocsp_request",
    "verify_ocsp_response",
]

_OCSP_SIGNING: Final = "1.3.6.1.5.5.7.3.9"
_OCSP_NOCHECK: Final = "1.3.6.1.5.5.7.48.1.5"
_NONCE: Final = "1.3.6.1.5.5.7.48.1.2"
_HASHES: Final = {"sha1": "1.3.14.3.2.26", "sha256": "2.16.840.1.101.3.4.2.1"}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class OcspError(UpstreamUnavailable):
    """The OCSP answer is missing, malformed, unauthorised, stale, or does not answer our question."""

    code = error_codes.OCSP_INVALID
    title = "Unusable OCSP response"


class OcspStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class CertIdKey:
    """RFC 6960 CertID values, comparable across hash algorithms by recomputing for each."""

    hash_algorithm: str  # "sha1" | "sha256"
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int


@dataclass(frozen=True, slots=True)
class OcspRequest:
    der: bytes
    cert_id: CertIdKey
    nonce: bytes | None


@dataclass(frozen=True, slots=True)
class OcspResult:
    status: OcspStatus
    serial: int
    produced_at: datetime
    this_update: datetime
    next_update: datetime | None
    revocation_time: datetime | None
    revocation_reason: str | None
    responder: str
    delegated_responder: bool
    responder_nocheck: bool  # the responder certificate asks not to be revocation-checked itself
    nonce_echoed: bool
    hold_means_unknown: bool  # NCA's 1970 certificateHold answer was mapped to unknown
    response_der: bytes = field(repr=False)


def _der_of(cert: x509.Certificate | bytes) -> bytes:
    return certificate_der(cert)


def _cert_id(issuer_name: bytes, issuer_key_bits: bytes, serial: int, alg: str) -> CertIdKey:
    name_hash = hashlib.new(alg, issuer_name).digest()
    key_hash = hashlib.new(alg, issuer_key_bits).digest()
    return CertIdKey(alg, name_hash, key_hash, serial)


def build_ocsp_request(
    cert: x509.Certificate | bytes,
    issuer: x509.Certificate | bytes,
    *,
    hash_algorithm: str = "sha256",
    nonce: bytes | None = b"",
) -> OcspRequest:
    """An unsigned OCSP request for one certificate. ``nonce=b""`` draws 16 random octets; None omits it."""
    if hash_algorithm not in _HASHES:
        raise ValueError(f"OCSP CertID hash must be one of {sorted(_HASHES)}")
    cert_der = _der_of(cert)
    serial = x509.Certificate.load(cert_der).serial_number
    key = _cert_id(cert_parts(cert_der).issuer, cert_parts(_der_of(issuer)).public_key_bits, serial, hash_algorithm)
    value = secrets.token_bytes(16) if nonce == b"" else nonce
    request: dict[str, object] = {
        "request_list": [
            {
                "req_cert": {
                    "hash_algorithm": {"algorithm": hash_algorithm, "parameters": core.Null()},
                    "issuer_name_hash": key.issuer_name_hash,
                    "issuer_key_hash": key.issuer_key_hash,
                    "serial_number": key.serial,
                }
            }
        ]
    }
    if value is not None:
        request["request_extensions"] = [{"extn_id": "nonce", "extn_value": value}]
    der = ocsp.OCSPRequest({"tbs_request": request}).dump()
    return OcspRequest(der=der, cert_id=key, nonce=value)


@dataclass(frozen=True, slots=True)
class _Cert:
    """A certificate as parsed object plus the raw parts signatures are checked over."""

    obj: x509.Certificate
    der: bytes
    parts: CertParts

    @classmethod
    def load(cls, der: bytes) -> _Cert:
        return cls(x509.Certificate.load(der), der, cert_parts(der))


def _matches(single: ocsp.SingleResponse, request: OcspRequest, ca: _Cert) -> bool:
    cert_id = single["cert_id"]
    alg = cert_id["hash_algorithm"]["algorithm"].native
    if alg not in _HASHES or cert_id["serial_number"].native != request.cert_id.serial:
        return False
    if alg == request.cert_id.hash_algorithm:
        expected = request.cert_id
    else:  # a responder may answer in another hash than asked: recompute (name hash from the issuer)
        expected = _cert_id(ca.parts.subject, ca.parts.public_key_bits, request.cert_id.serial, alg)
    return bool(
        cert_id["issuer_name_hash"].native == expected.issuer_name_hash
        and cert_id["issuer_key_hash"].native == expected.issuer_key_hash
    )


def _eku(extensions: dict[str, tuple[bool, bytes]]) -> set[str]:
    raw = extensions.get("2.5.29.37")
    if raw is None:
        return set()
    return {oid.dotted for oid in x509.ExtKeyUsageSyntax.load(raw[1])}


def _responder_matches(responder_id: ocsp.ResponderId, cert: _Cert) -> bool:
    if responder_id.name == "by_name":
        return bool(responder_id.chosen == cert.obj.subject)
    key_hash = hashlib.sha1(cert.parts.public_key_bits).digest()  # noqa: S324 - RFC 6960 KeyHash is SHA-1
    return bool(responder_id.chosen.native == key_hash)


def _check_delegate(responder: _Cert, ca: _Cert, produced_at: datetime) -> bool:
    """RFC 6960 §4.2.2.2: issued by the CA itself, for OCSPSigning, valid when the response was made."""
    if responder.obj["tbs_certificate"]["issuer"] != ca.obj.subject:
        raise OcspError(
            "OCSP responder certificate was not issued by the CA", code=error_codes.OCSP_RESPONDER_UNAUTHORIZED
        )
    extensions = raw_extensions(responder.der)
    if _OCSP_SIGNING not in _eku(extensions):
        raise OcspError(
            "OCSP responder certificate lacks id-kp-OCSPSigning", code=error_codes.OCSP_RESPONDER_UNAUTHORIZED
        )
    validity = responder.obj["tbs_certificate"]["validity"]
    if not validity["not_before"].native <= produced_at <= validity["not_after"].native:
        raise OcspError(
            "OCSP responder certificate was not valid at producedAt", code=error_codes.OCSP_RESPONDER_UNAUTHORIZED
        )
    signed = algorithms.verify_signature(
        ca.parts.spki,
        algos.SignedDigestAlgorithm.load(responder.parts.signature_algorithm),
        responder.parts.tbs,
        responder.parts.signature,
    )
    if not signed:
        raise OcspError(
            "OCSP responder certificate is not signed by the CA", code=error_codes.OCSP_RESPONDER_UNAUTHORIZED
        )
    # id-pkix-ocsp-nocheck: NCA's legacy responders encode it with an empty value instead of NULL
    # (KZ-PKI.md §1); its presence is what counts, so the value is not parsed.
    return _OCSP_NOCHECK in extensions


def _nonce_value(raw: bytes) -> bytes:
    """RFC 8954: the extension holds an OCTET STRING; some responders put the bare octets instead."""
    try:
        inner = core.OctetString.load(raw)
        if inner.dump() == raw:
            return bytes(inner.native)
    except ValueError:
        pass
    return raw


def verify_ocsp_response(
    response_der: bytes,
    request: OcspRequest,
    issuer: x509.Certificate | bytes,
    now: datetime,
    *,
    require_nonce: bool = True,
    max_age: timedelta = timedelta(hours=1),
    skew: timedelta = timedelta(minutes=5),
) -> OcspResult:
    """Check an OCSP response against the request and the CA; raises :class:`OcspError` if unusable."""
    try:
        ca = _Cert.load(_der_of(issuer))
        return _verify(response_der, request, ca, now, require_nonce, max_age, skew)
    except OcspError:
        raise
    except algorithms.UnsupportedAlgorithm as exc:
        raise OcspError(f"cannot verify the OCSP response: {exc.detail}", code=error_codes.OCSP_UNSUPPORTED) from exc
    except AuthsvcError:
        raise
    except (DerError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise OcspError(f"malformed OCSP response: {exc}", code=error_codes.OCSP_MALFORMED) from exc


def _verify(
    response_der: bytes,
    request: OcspRequest,
    ca: _Cert,
    now: datetime,
    require_nonce: bool,
    max_age: timedelta,
    skew: timedelta,
) -> OcspResult:
    if response_der[:1] != b"\x30":
        raise OcspError("OCSP response is not DER", code=error_codes.OCSP_MALFORMED)
    response = ocsp.OCSPResponse.load(response_der, strict=True)
    status = response["response_status"].native
    if status != "successful":
        raise OcspError(f"OCSP responder answered {status}", code=_STATUS_CODES.get(status, error_codes.OCSP_INVALID))
    if response["response_bytes"]["response_type"].native != "basic_ocsp_response":
        raise OcspError("OCSP response is not a BasicOCSPResponse", code=error_codes.OCSP_UNSUPPORTED)
    basic_der = response["response_bytes"]["response"].contents
    fields = der_fields(basic_der)
    if len(fields) not in (3, 4):
        raise OcspError("BasicOCSPResponse has the wrong shape", code=error_codes.OCSP_MALFORMED)
    tbs = ocsp.ResponseData.load(fields[0])
    produced_at: datetime = tbs["produced_at"].native
    singles = [s for s in tbs["responses"] if _matches(s, request, ca)]
    if len(singles) != 1:
        raise OcspError("OCSP response does not answer for the requested certificate", code=error_codes.OCSP_MISMATCH)
    single = singles[0]

    responder_id = tbs["responder_id"]
    delegated, nocheck = False, False
    signer: _Cert | None
    if _responder_matches(responder_id, ca):
        signer = ca
    else:
        candidates = [_Cert.load(raw) for raw in der_fields(der_content(fields[3]))] if len(fields) == 4 else []
        signer = next((c for c in candidates if _responder_matches(responder_id, c)), None)
        if signer is None:
            raise OcspError(
                "OCSP responder is neither the CA nor a certificate it sent",
                code=error_codes.OCSP_RESPONDER_UNAUTHORIZED,
            )
        nocheck = _check_delegate(signer, ca, produced_at)
        delegated = True
    bits = der_content(fields[2])
    if fields[2][:1] != b"\x03" or bits[:1] != b"\x00":
        raise OcspError("OCSP signature is not a whole-octet BIT STRING", code=error_codes.OCSP_MALFORMED)
    valid = algorithms.verify_signature(
        signer.parts.spki, algos.SignedDigestAlgorithm.load(fields[1]), fields[0], bits[1:]
    )
    if not valid:
        raise OcspError("OCSP response signature does not verify", code=error_codes.OCSP_SIGNATURE_INVALID)

    echoed = False
    if request.nonce is not None:
        got = next(
            (e["extn_value"].contents for e in tbs["response_extensions"] or () if e["extn_id"].dotted == _NONCE),
            None,
        )
        if got is not None and _nonce_value(got) != request.nonce:
            raise OcspError(
                "OCSP nonce does not match the request (replayed response?)", code=error_codes.OCSP_NONCE_MISMATCH
            )
        echoed = got is not None
        if not echoed and require_nonce:
            raise OcspError("OCSP responder did not echo the nonce", code=error_codes.OCSP_NONCE_MISSING)

    this_update: datetime = single["this_update"].native
    next_update: datetime | None = single["next_update"].native
    if this_update > now + skew:
        raise OcspError("OCSP thisUpdate is in the future", code=error_codes.OCSP_NOT_YET_VALID)
    if next_update is not None and now > next_update + skew:
        raise OcspError("OCSP response is past its nextUpdate", code=error_codes.OCSP_STALE)
    if next_update is None and now - this_update > max_age:
        raise OcspError("OCSP response is older than the freshness window", code=error_codes.OCSP_STALE)

    cert_status = single["cert_status"]
    revocation_time: datetime | None = None
    reason: str | None = None
    hold_unknown = False
    if cert_status.name == "good":
        result = OcspStatus.GOOD
    elif cert_status.name == "revoked":
        info = cert_status.chosen
        revocation_time = info["revocation_time"].native
        # asn1crypto names the reasons exactly as crl.REASONS does ("certificate_hold", ...)
        reason = info["revocation_reason"].native
        if reason == "certificate_hold" and revocation_time == _EPOCH:
            result, hold_unknown, revocation_time, reason = OcspStatus.UNKNOWN, True, None, None
        else:
            result = OcspStatus.REVOKED
    else:
        result = OcspStatus.UNKNOWN
    return OcspResult(
        status=result,
        serial=request.cert_id.serial,
        produced_at=produced_at,
        this_update=this_update,
        next_update=next_update,
        revocation_time=revocation_time,
        revocation_reason=reason,
        responder=signer.obj.subject.human_friendly,
        delegated_responder=delegated,
        responder_nocheck=nocheck,
        nonce_echoed=echoed,
        hold_means_unknown=hold_unknown,
        response_der=response_der,
    )


# The responder's refusals (RFC 6960 OCSPResponseStatus), each a catalogue code.
_STATUS_CODES = {
    "malformed_request": error_codes.OCSP_MALFORMED_REQUEST,
    "internal_error": error_codes.OCSP_INTERNAL_ERROR,
    "try_later": error_codes.OCSP_TRY_LATER,
    "sign_required": error_codes.OCSP_SIGN_REQUIRED,
    "unauthorized": error_codes.OCSP_UNAUTHORIZED,
}


def _snake(text: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in text)
