"""RFC 3161 time-stamp tokens: validation, requests and responses (R-7.1, R-10.1, R-12.1).

A trusted time stamp lets a signature be judged at the moment it was made rather than now (NCANode
judged everything "now" and never checked the TSA, KZ-PKI.md §4). A token counts only if: it is a CMS
SignedData over a TSTInfo with exactly one signer; the signer's messageDigest, content type and ESS
signingCertificate bind the TSTInfo and the TSA certificate; the signature verifies; the TSA
certificate's only extended key usage is id-kp-timeStamping, marked critical (RFC 3161 §2.3), and it
was valid at genTime; the message imprint equals the digest of the time-stamped data; and, through the
caller's chain hook (authsvc.pki.path), the TSA certificate chains to a trusted NCA root at genTime.

Signed bytes are always taken from the raw DER (asn1crypto may re-encode some values).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Final

from asn1crypto import algos, cms, core, tsp, x509

from authsvc import error_codes
from authsvc.errors import AuthsvcError, UpstreamUnavailable, ValidationFailed
from authsvc.pki import algorithms
from authsvc.pki.crl_index import DerError, cert_parts, der_content, der_fields, raw_extensions

if TYPE_CHECKING:  # cms imports path validation; tsp itself does not need it at import time
    from authsvc.pki.cms import TimestampHook, TimestampVerdict
    from authsvc.pki.path import PathValidator
    from authsvc.pki.revocation import RevocationChecker

__all__ = [
    "ChainHook",
    "TimestampError",
    "TimestampInfo",
    "TimestampRequest",
    "build_timestamp_request",
    "make_timestamp_hook",
    "parse_timestamp_response",
    "path_chain_hook",
    "validate_timestamp",
    "verify_timestamp_token",
]

_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"
_TST_INFO: Final = "1.2.840.113549.1.9.16.1.4"
_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST: Final = "1.2.840.113549.1.9.4"
_SIGNING_CERT_V1: Final = "1.2.840.113549.1.9.16.2.12"
_SIGNING_CERT_V2: Final = "1.2.840.113549.1.9.16.2.47"
_TIME_STAMPING: Final = "1.3.6.1.5.5.7.3.8"

# (TSA certificate, the other certificates the token carried, genTime) -> None, raising if untrusted.
ChainHook = Callable[[x509.Certificate, Sequence[x509.Certificate], datetime], Awaitable[None]]


class TimestampError(ValidationFailed):
    """The time-stamp token is malformed, not genuinely signed by a TSA, or not over the given data."""

    code = error_codes.TIMESTAMP_INVALID
    title = "Invalid time stamp"


@dataclass(frozen=True, slots=True)
class TimestampInfo:
    gen_time: datetime
    policy: str
    serial: int
    hash_algorithm: str  # OID of the message-imprint digest
    hashed_message: bytes
    nonce: int | None
    tsa_name: str  # the TSTInfo tsa field if present, else the TSA certificate's subject
    tsa_certificate: bytes = field(repr=False)
    accuracy_seconds: float | None = None
    ordering: bool = False
    token_der: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class TimestampRequest:
    der: bytes
    hash_algorithm: str
    hashed_message: bytes
    nonce: int | None


def _attrs(raw_signed_attrs: bytes) -> dict[str, list[bytes]]:
    """Attribute OID -> raw value TLVs, from the [0] IMPLICIT signedAttrs TLV."""
    found: dict[str, list[bytes]] = {}
    for attr in der_fields(b"\x30" + raw_signed_attrs[1:]):
        oid_tlv, values_tlv = der_fields(attr)
        oid = core.ObjectIdentifier.load(oid_tlv).dotted
        if oid in found:
            raise TimestampError(f"signed attribute {oid} appears twice", code=error_codes.TIMESTAMP_MALFORMED)
        found[oid] = der_fields(b"\x30" + values_tlv[1:])
    return found


def _single(attrs: dict[str, list[bytes]], oid: str, what: str) -> bytes:
    values = attrs.get(oid, [])
    if len(values) != 1:
        raise TimestampError(
            f"time-stamp token needs exactly one {what} attribute", code=error_codes.TIMESTAMP_MALFORMED
        )
    return values[0]


def _check_signing_certificate(attrs: dict[str, list[bytes]], cert_der: bytes, serial: int) -> None:
    """RFC 3161 §2.4.1 / RFC 5816: ESS signingCertificate(V2) must name the TSA certificate."""
    if _SIGNING_CERT_V1 in attrs:
        ess = tsp.SigningCertificate.load(_single(attrs, _SIGNING_CERT_V1, "signingCertificate"))
        first, digest_alg = ess["certs"][0], "sha1"
    elif _SIGNING_CERT_V2 in attrs:
        ess2 = tsp.SigningCertificateV2.load(_single(attrs, _SIGNING_CERT_V2, "signingCertificateV2"))
        first = ess2["certs"][0]
        digest_alg = first["hash_algorithm"]["algorithm"].dotted
    else:
        raise TimestampError(
            "time-stamp token lacks the ESS signingCertificate attribute", code=error_codes.TIMESTAMP_MALFORMED
        )
    if not hmac.compare_digest(bytes(first["cert_hash"].native), algorithms.hash_data(digest_alg, cert_der)):
        raise TimestampError("ESS signingCertificate does not name the signing TSA certificate")
    issuer_serial = first["issuer_serial"]
    if issuer_serial.native is not None and issuer_serial["serial_number"].native != serial:
        raise TimestampError("ESS signingCertificate serial does not match the TSA certificate")


def _check_tsa_certificate(cert: x509.Certificate, cert_der: bytes, gen_time: datetime) -> None:
    extensions = raw_extensions(cert_der)
    eku = extensions.get("2.5.29.37")
    if eku is None or not eku[0]:
        raise TimestampError(
            "TSA certificate lacks a critical extended key usage", code=error_codes.TIMESTAMP_TSA_UNAUTHORIZED
        )
    purposes = {oid.dotted for oid in x509.ExtKeyUsageSyntax.load(eku[1])}
    if purposes != {_TIME_STAMPING}:
        raise TimestampError(
            "TSA certificate is not for time stamping only", code=error_codes.TIMESTAMP_TSA_UNAUTHORIZED
        )
    key_usage = extensions.get("2.5.29.15")
    if key_usage is not None:
        usages = x509.KeyUsage.load(key_usage[1]).native
        if not usages & {"digital_signature", "non_repudiation"}:
            raise TimestampError(
                "TSA certificate key usage forbids signing", code=error_codes.TIMESTAMP_TSA_UNAUTHORIZED
            )
    validity = cert["tbs_certificate"]["validity"]
    if not validity["not_before"].native <= gen_time <= validity["not_after"].native:
        raise TimestampError("TSA certificate was not valid at genTime", code=error_codes.TIMESTAMP_TSA_UNAUTHORIZED)


def _signed_data_fields(token_der: bytes) -> list[bytes]:
    info = der_fields(token_der)
    if len(info) != 2 or core.ObjectIdentifier.load(info[0]).dotted != _SIGNED_DATA or info[1][:1] != b"\xa0":
        raise TimestampError("time-stamp token is not a CMS SignedData", code=error_codes.TIMESTAMP_MALFORMED)
    return der_fields(der_content(info[1]))


def verify_timestamp_token(
    token_der: bytes,
    *,
    data: bytes | None = None,
    hashed_message: bytes | None = None,
    nonce: int | None = None,
    policies: Sequence[str] | None = None,
    extra_certs: Sequence[bytes] = (),
) -> TimestampInfo:
    """Verify a TimeStampToken (ContentInfo DER) by itself; the TSA chain is :func:`validate_timestamp`'s.

    ``data`` (digested with the token's imprint algorithm) or ``hashed_message`` must match the
    imprint when given; ``nonce`` and ``policies`` likewise. Raises :class:`TimestampError`.
    """
    try:
        return _verify(token_der, data, hashed_message, nonce, policies, extra_certs)
    except TimestampError:
        raise
    except algorithms.UnsupportedAlgorithm as exc:
        raise TimestampError(
            f"cannot verify the time stamp: {exc.detail}", code=error_codes.TIMESTAMP_UNSUPPORTED
        ) from exc
    except AuthsvcError:
        raise
    except (DerError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise TimestampError(f"malformed time-stamp token: {exc}", code=error_codes.TIMESTAMP_MALFORMED) from exc


def _verify(
    token_der: bytes,
    data: bytes | None,
    hashed_message: bytes | None,
    nonce: int | None,
    policies: Sequence[str] | None,
    extra_certs: Sequence[bytes],
) -> TimestampInfo:
    fields = _signed_data_fields(token_der)
    encap = der_fields(fields[2])
    if core.ObjectIdentifier.load(encap[0]).dotted != _TST_INFO or len(encap) != 2:
        raise TimestampError("time-stamp token does not encapsulate a TSTInfo", code=error_codes.TIMESTAMP_MALFORMED)
    tst_der = der_content(der_content(encap[1]))  # [0] EXPLICIT OCTET STRING
    certs = [der_fields(b"\x30" + f[1:]) for f in fields[3:] if f[:1] == b"\xa0"]
    cert_ders = [*(certs[0] if certs else []), *extra_certs]
    signer_infos = der_fields(b"\x30" + fields[-1][1:])
    if fields[-1][:1] != b"\x31" or len(signer_infos) != 1:
        raise TimestampError("a time-stamp token has exactly one signer", code=error_codes.TIMESTAMP_MALFORMED)
    signer = cms.SignerInfo.load(signer_infos[0])
    signer_fields = der_fields(signer_infos[0])
    signed_attrs_raw = next((f for f in signer_fields if f[:1] == b"\xa0"), None)
    if signed_attrs_raw is None:
        raise TimestampError("time-stamp token has no signed attributes", code=error_codes.TIMESTAMP_MALFORMED)

    sid = signer["sid"]
    if sid.name != "issuer_and_serial_number":
        raise TimestampError("TSA signer must be named by issuer and serial", code=error_codes.TIMESTAMP_MALFORMED)
    tsa_der = next(
        (
            d
            for d in cert_ders
            if (c := x509.Certificate.load(d)).serial_number == sid.chosen["serial_number"].native
            and c.issuer == sid.chosen["issuer"]
        ),
        None,
    )
    if tsa_der is None:
        raise TimestampError(
            "TSA certificate is neither in the token nor supplied", code=error_codes.TIMESTAMP_TSA_UNKNOWN
        )
    tsa_cert = x509.Certificate.load(tsa_der)

    attrs = _attrs(signed_attrs_raw)
    if core.ObjectIdentifier.load(_single(attrs, _CONTENT_TYPE, "content-type")).dotted != _TST_INFO:
        raise TimestampError("signed content type is not TSTInfo", code=error_codes.TIMESTAMP_MALFORMED)
    digest_oid = signer["digest_algorithm"]["algorithm"].dotted
    message_digest = core.OctetString.load(_single(attrs, _MESSAGE_DIGEST, "messageDigest")).native
    if not hmac.compare_digest(bytes(message_digest), algorithms.hash_data(digest_oid, tst_der)):
        raise TimestampError("messageDigest does not match the TSTInfo")
    _check_signing_certificate(attrs, tsa_der, tsa_cert.serial_number)
    valid = algorithms.verify_signature(
        cert_parts(tsa_der).spki,
        algos.SignedDigestAlgorithm.load(_sig_alg(signer_fields)),
        b"\x31" + signed_attrs_raw[1:],
        bytes(signer["signature"].native),
        digest_oid,
    )
    if not valid:
        raise TimestampError("time-stamp signature does not verify", code=error_codes.TIMESTAMP_SIGNATURE_INVALID)

    tst = tsp.TSTInfo.load(tst_der)
    gen_time: datetime = tst["gen_time"].native
    _check_tsa_certificate(tsa_cert, tsa_der, gen_time)
    imprint = tst["message_imprint"]
    hash_oid = imprint["hash_algorithm"]["algorithm"].dotted
    hashed = bytes(imprint["hashed_message"].native)
    if data is not None:
        hashed_message = algorithms.hash_data(hash_oid, data)
    if hashed_message is not None and not hmac.compare_digest(hashed, hashed_message):
        raise TimestampError(
            "time stamp covers other data (message imprint mismatch)", code=error_codes.TIMESTAMP_IMPRINT_MISMATCH
        )
    token_nonce = tst["nonce"].native
    if nonce is not None and token_nonce != nonce:
        raise TimestampError("time-stamp nonce does not match the request", code=error_codes.TIMESTAMP_NONCE_MISMATCH)
    policy = tst["policy"].dotted
    if policies is not None and policy not in policies:
        raise TimestampError(f"time-stamp policy {policy} is not accepted", code=error_codes.TIMESTAMP_POLICY_REJECTED)
    tsa_field = tst["tsa"]
    accuracy = tst["accuracy"]
    return TimestampInfo(
        gen_time=gen_time,
        policy=policy,
        serial=tst["serial_number"].native,
        hash_algorithm=hash_oid,
        hashed_message=hashed,
        nonce=token_nonce,
        tsa_name=str(tsa_field.chosen.human_friendly)
        if tsa_field.native is not None and tsa_field.name == "directory_name"
        else tsa_cert.subject.human_friendly,
        tsa_certificate=tsa_der,
        accuracy_seconds=_accuracy(accuracy),
        ordering=bool(tst["ordering"].native),
        token_der=token_der,
    )


def _sig_alg(signer_fields: list[bytes]) -> bytes:
    """SignerInfo: version, sid, digestAlgorithm, [0] signedAttrs, signatureAlgorithm, signature, [1]?"""
    index = signer_fields.index(next(f for f in signer_fields if f[:1] == b"\xa0"))
    return signer_fields[index + 1]


def _accuracy(value: tsp.Accuracy) -> float | None:
    if value.native is None:
        return None
    native = value.native
    return float(native.get("seconds") or 0) + (native.get("millis") or 0) / 1e3 + (native.get("micros") or 0) / 1e6


async def validate_timestamp(
    token_der: bytes,
    *,
    chain_hook: ChainHook | None,
    data: bytes | None = None,
    hashed_message: bytes | None = None,
    nonce: int | None = None,
    policies: Sequence[str] | None = None,
) -> TimestampInfo:
    """:func:`verify_timestamp_token`, then the TSA chain at genTime through ``chain_hook``.

    Without a hook the TSA certificate is checked but not chained: callers outside tests must pass one.
    """
    info = verify_timestamp_token(token_der, data=data, hashed_message=hashed_message, nonce=nonce, policies=policies)
    if chain_hook is not None:
        fields = _signed_data_fields(token_der)
        blocks = [der_fields(b"\x30" + f[1:]) for f in fields[3:] if f[:1] == b"\xa0"]
        others = [x509.Certificate.load(d) for d in (blocks[0] if blocks else []) if d != info.tsa_certificate]
        await chain_hook(x509.Certificate.load(info.tsa_certificate), others, info.gen_time)
    return info


def path_chain_hook(validator: PathValidator, revocation: RevocationChecker | None = None) -> ChainHook:
    """A :data:`ChainHook` over :class:`authsvc.pki.path.PathValidator` (and revocation, if given).

    The TSA certificate must chain to a pinned NCA anchor at genTime; with a checker, it must also not
    have been revoked at genTime (a TSA key compromise voids its stamps).
    """

    async def hook(cert: x509.Certificate, others: Sequence[x509.Certificate], at: datetime) -> None:
        result = await validator.validate(cert, at=at, other_certs=others, required_key_usage=())
        if not result.ok:
            raise TimestampError(
                f"TSA certificate does not chain to a trusted root: {', '.join(result.reasons)}",
                code=error_codes.TIMESTAMP_UNTRUSTED,
            )
        if revocation is not None and result.revocation_pairs:
            leaf, issuer = result.revocation_pairs[0]
            status = await revocation.check(leaf, issuer, at)
            if status.status != "good":
                raise TimestampError(
                    f"TSA certificate status is {status.status}", code=error_codes.TIMESTAMP_TSA_REVOKED
                )

    return hook


def make_timestamp_hook(chain_hook: ChainHook | None, policies: Sequence[str] | None = None) -> TimestampHook:
    """The hook :func:`authsvc.pki.cms.verify_cms` calls for signatureTimeStampToken attributes."""
    from authsvc.pki.cms import TimestampVerdict

    async def hook(token_der: bytes, signature: bytes) -> TimestampVerdict:
        try:
            info = await validate_timestamp(token_der, chain_hook=chain_hook, data=signature, policies=policies)
        except ValidationFailed as exc:
            return TimestampVerdict(valid=False, reasons=[exc.code], details={"detail": exc.detail})
        return TimestampVerdict(
            valid=True,
            gen_time=info.gen_time,
            details={
                "serial": format(info.serial, "x"),
                "policy": info.policy,
                "tsa": info.tsa_name,
                "hash_algorithm": info.hash_algorithm,
                "hash": info.hashed_message.hex(),  # the message imprint (NCANode's tsp.hash)
            },
        )

    return hook


def build_timestamp_request(
    data: bytes | None = None,
    *,
    hashed_message: bytes | None = None,
    hash_algorithm: str = "sha256",
    nonce: int | bool | None = True,
    cert_req: bool = True,
    policy: str | None = None,
) -> TimestampRequest:
    """An RFC 3161 TimeStampReq over ``data`` (or a ready digest); ``nonce=True`` draws 64 random bits."""
    if (data is None) == (hashed_message is None):
        raise ValueError("give exactly one of data or hashed_message")
    oid = algorithms.signature_digest_oid("1.2.840.113549.1.1.1", hash_algorithm)
    digest = algorithms.hash_data(oid, data) if data is not None else bytes(hashed_message or b"")
    value: int | None
    if nonce is True:
        value = secrets.randbits(63) | 1
    elif nonce is False:
        value = None
    else:
        value = nonce
    request: dict[str, object] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": oid}, "hashed_message": digest},
        "cert_req": cert_req,
    }
    if value is not None:
        request["nonce"] = value
    if policy is not None:
        request["req_policy"] = policy
    return TimestampRequest(tsp.TimeStampReq(request).dump(), oid, digest, value)


def parse_timestamp_response(response_der: bytes, request: TimestampRequest) -> bytes:
    """The token DER from a TimeStampResp, after checking status, imprint and nonce against the request."""
    try:
        fields = der_fields(response_der)
        status = tsp.PKIStatusInfo.load(fields[0])
        state = status["status"].native
    except AuthsvcError:
        raise
    except (DerError, ValueError, TypeError, KeyError, IndexError) as exc:
        raise UpstreamUnavailable(f"malformed time-stamp response: {exc}", code=error_codes.TSP_MALFORMED) from exc
    if state not in ("granted", "granted_with_mods") or len(fields) != 2:
        text = status["status_string"].native
        raise UpstreamUnavailable(
            f"TSA refused the request: {state} {text or ''}".strip(), code=error_codes.TSP_REJECTED
        )
    token = fields[1]
    try:
        verify_timestamp_token(token, hashed_message=request.hashed_message, nonce=request.nonce)
    except TimestampError as exc:
        raise UpstreamUnavailable(
            f"TSA answer does not fit the request: {exc.detail}", code=error_codes.TSP_INVALID
        ) from exc
    return token
