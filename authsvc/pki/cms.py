"""CMS SignedData verification (RFC 5652) for NCALayer's ``createCMSSignatureFromBase64`` (R-7.1, R-10.1).

Per signer: find the certificate (issuerAndSerialNumber or subjectKeyIdentifier), check the signed
attributes (messageDigest against the content, content-type, ESS signingCertificate v1/v2 binding),
verify the signature over DER(signedAttrs as SET) or over the content, then validate the path at the
right moment: the caller's ``at``, else a *verified* time-stamp's genTime, else now. NCANode judged
every signature at the current time and answered expired certificates and detached CMS with HTTP 500
(KZ-PKI.md §4): here both are ordinary, named results.

RFC 3161 tokens (unsigned attribute signatureTimeStampToken) go to an injectable hook: the TSP layer
checks the TSA chain and that the imprint covers this signer's signature value.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final, Literal

from asn1crypto import cms, core, tsp, x509
from pydantic import BaseModel, Field

from authsvc import error_codes
from authsvc.errors import AuthsvcError, ValidationFailed
from authsvc.pki.algorithms import UnsupportedAlgorithm, hash_data, verify_signature
from authsvc.pki.certinfo import CertificateParseError, CertInfo, cert_info
from authsvc.pki.der import ASN1_ERRORS, decode_binary
from authsvc.pki.lru import Lru
from authsvc.pki.path import PathResult, PathSource

__all__ = [
    "CmsParseError",
    "CmsResult",
    "ParsedCms",
    "SignerResult",
    "TimestampHook",
    "TimestampVerdict",
    "binding_known",
    "ess_attributes",
    "find_signer",
    "parse_cms",
    "verify_cms",
    "verify_cms_sync",
]

_ = tsp  # importing asn1crypto.tsp registers the ESS signingCertificate attribute specs

_MESSAGE_DIGEST: Final = "1.2.840.113549.1.9.4"
_CONTENT_TYPE: Final = "1.2.840.113549.1.9.3"
_SIGNING_TIME: Final = "1.2.840.113549.1.9.5"
_SIGNING_CERT_V1: Final = "1.2.840.113549.1.9.16.2.12"
_SIGNING_CERT_V2: Final = "1.2.840.113549.1.9.16.2.47"
_TST_ATTR: Final = "1.2.840.113549.1.9.16.2.14"
_SIGNED_DATA: Final = "1.2.840.113549.1.7.2"

TimeSource = Literal["given", "timestamp", "now"]


class _RawEncapsulatedContent(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [
        ("content_type", core.ObjectIdentifier),
        ("content", core.OctetString, {"explicit": 0, "optional": True}),
    ]


class CmsParseError(ValidationFailed):
    code = error_codes.BAD_CMS
    title = "Unreadable CMS signature"


class TimestampVerdict(BaseModel):
    """What the TSP layer concluded about one signer's time-stamp token."""

    valid: bool
    gen_time: datetime | None = None
    reasons: list[str] = []
    details: dict[str, Any] = {}


# (token ContentInfo DER, the signer's signature value it must cover) -> verdict
TimestampHook = Callable[[bytes, bytes], Awaitable[TimestampVerdict]]


class SignerResult(BaseModel):
    valid: bool
    signature_valid: bool
    reasons: list[str] = []
    detail: str = ""
    signer: CertInfo | None = None
    path: PathResult | None = None
    signing_time: datetime | None = None
    digest_algorithm: str
    signature_algorithm: str
    signed_attributes: bool
    validated_at: datetime | None = None
    time_source: TimeSource | None = None
    timestamp: TimestampVerdict | None = None


class CmsResult(BaseModel):
    valid: bool
    reasons: list[str] = []
    detached: bool
    content_type: str
    signers: list[SignerResult]
    content: bytes | None = Field(default=None, exclude=True)  # the signed content (attached or given)


def _parse(data: bytes | str | cms.ContentInfo) -> tuple[cms.SignedData, list[x509.Certificate]]:
    loaded = data if isinstance(data, cms.ContentInfo) else None
    der = decode_binary(data, what="CMS signature") if not isinstance(data, cms.ContentInfo) else b""
    try:
        info = loaded if loaded is not None else cms.ContentInfo.load(der)
        if info["content_type"].dotted != _SIGNED_DATA:
            raise CmsParseError("CMS content is not SignedData", code=error_codes.BAD_CMS)
        signed = info["content"]
        certs = [c.chosen for c in signed["certificates"] or [] if c.name == "certificate"]
        for cert in certs:
            cert["tbs_certificate"]["serial_number"].native  # noqa: B018 - parse eagerly
        len(signed["signer_infos"])
    except AuthsvcError:
        raise
    except ASN1_ERRORS as exc:
        raise CmsParseError(f"not a readable CMS SignedData structure: {exc}") from exc
    return signed, certs


def _attributes(attrs: Any) -> dict[str, list[Any]]:
    """Attribute values by OID; a value asn1crypto cannot parse is kept as None."""
    out: dict[str, list[Any]] = {}
    for attr in attrs or []:
        oid = attr["type"].dotted
        values: list[Any] = []
        try:
            values = list(attr["values"])
        except ASN1_ERRORS:
            values = [None]
        out.setdefault(oid, []).extend(values)
    return out


def _ski(cert: x509.Certificate) -> bytes | None:
    for ext in cert["tbs_certificate"]["extensions"] or []:
        if ext["extn_id"].dotted == "2.5.29.14":
            try:
                value: bytes = ext["extn_value"].parsed.native
                return value
            except ASN1_ERRORS:
                return None
    return None


@functools.lru_cache(maxsize=1024)
def _names_equal(a: bytes, b: bytes) -> bool:
    equal: bool = x509.Name.load(a) == x509.Name.load(b)
    return equal


def _same_name(a: x509.Name, b: x509.Name) -> bool:
    """``a == b`` (X.520 matching: LDAP string preparation of every attribute, ~1 ms for a Cyrillic name),
    remembered by the two names' DER: every signature of one signer asks the same question. A name that
    cannot be compared raises every time, as the plain comparison does (exceptions are not cached)."""
    return _names_equal(a.dump(), b.dump())


def find_signer(sid: cms.SignerIdentifier, certs: Sequence[x509.Certificate]) -> x509.Certificate | None:
    if sid.name == "issuer_and_serial_number":
        wanted = sid.chosen
        for cert in certs:
            if cert.serial_number == wanted["serial_number"].native and _same_name(cert.issuer, wanted["issuer"]):
                return cert
    elif sid.name == "subject_key_identifier":
        key_id = sid.chosen.native
        for cert in certs:
            if _ski(cert) == key_id:
                return cert
    return None


class _RawAttribute(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar = [("type", core.ObjectIdentifier), ("values", core.Any)]


class _RawAttributes(core.SetOf):  # type: ignore[misc]
    _child_spec = _RawAttribute


def ess_attributes(signed_bytes: bytes) -> tuple[bytes, ...]:
    """The DER of every ESS signingCertificate (v1 or v2) attribute in the signed attributes as received
    (``signed_bytes``: the SET OF the signature covers). Values are not parsed: only their types are read,
    by the same OID decoding as the full attribute parse, so both see the same ESS attributes."""
    return tuple(
        bytes(attr.dump())
        for attr in _RawAttributes.load(signed_bytes)
        if attr["type"].dotted in (_SIGNING_CERT_V1, _SIGNING_CERT_V2)
    )


# The ESS binding's verdict by (certificate SHA-256, the ESS attributes' DER): a function of those bytes
# alone, and ~0.1 ms of asn1crypto work (GOST hashes: milliseconds) that every signature by one signer
# repeats. "" stands for "no reason". A verdict that raises is not remembered.
_BINDINGS: Lru[tuple[bytes, tuple[bytes, ...]], str] = Lru(4096)


def binding_known(cert: x509.Certificate, ess: tuple[bytes, ...]) -> bool:
    """Whether :func:`_signing_cert_binding`'s verdict for these bytes is remembered (costs nothing)."""
    return not ess or _BINDINGS.get((cert.sha256, ess)) is not None


def _binding(attrs: dict[str, list[Any]], cert: x509.Certificate, ess: tuple[bytes, ...]) -> str | None:
    if not ess:
        return _signing_cert_binding(attrs, cert)  # no ESS attribute: nothing to compute
    key = (cert.sha256, ess)
    found = _BINDINGS.get(key)
    if found is None:
        found = _signing_cert_binding(attrs, cert) or ""
        _BINDINGS.put(key, found)
    return found or None


def _signing_cert_binding(attrs: dict[str, list[Any]], cert: x509.Certificate) -> str | None:
    """A reason if an ESS signingCertificate (v1: SHA-1, v2: its hash) names another certificate."""
    der = cert.dump()
    for oid, default_hash in ((_SIGNING_CERT_V1, "sha1"), (_SIGNING_CERT_V2, "sha256")):
        for value in attrs.get(oid, []):
            if value is None:
                return "signing_certificate_unreadable"
            first = value["certs"][0]
            algo = default_hash
            if oid == _SIGNING_CERT_V2:
                algo = first["hash_algorithm"]["algorithm"].dotted
            try:
                expected = hash_data(algo, der)
            except UnsupportedAlgorithm:
                return "signing_certificate_unsupported_hash"
            if not hmac.compare_digest(bytes(first["cert_hash"].native), expected):
                return "signing_certificate_mismatch"
            issuer_serial = first["issuer_serial"]
            if issuer_serial.native is not None and issuer_serial["serial_number"].native != cert.serial_number:
                return "signing_certificate_mismatch"
    return None


async def _verify_signer(
    signer_info: cms.SignerInfo,
    certs: Sequence[x509.Certificate],
    content_type: str,
    content: bytes | None,
    *,
    validator: PathSource,
    at: datetime | None,
    required_key_usage: Sequence[str],
    timestamp_hook: TimestampHook | None,
) -> SignerResult:
    digest_oid = signer_info["digest_algorithm"]["algorithm"].dotted
    sig_alg = signer_info["signature_algorithm"]
    result = SignerResult(
        valid=False,
        signature_valid=False,
        digest_algorithm=digest_oid,
        signature_algorithm=sig_alg["algorithm"].dotted,
        signed_attributes=bool(signer_info["signed_attrs"]),
    )
    cert = find_signer(signer_info["sid"], certs)
    if cert is None:
        result.reasons.append("signer_certificate_missing")
        return result
    try:
        result.signer = cert_info(cert)
    except CertificateParseError as exc:
        result.reasons.append("bad_certificate")
        result.detail = exc.detail
        return result
    if content is None:
        result.reasons.append("detached_content_missing")
        return result
    signature = bytes(signer_info["signature"].native)
    try:
        if result.signed_attributes:
            # The signature covers the DER of signedAttrs with its [0] IMPLICIT tag replaced by SET OF. Take the
            # bytes as received, before the attributes are parsed: after parsing, dump() re-encodes (slow, and a
            # SET OF that was not in DER order would come out different from what was signed).
            signed_bytes = b"\x31" + signer_info["signed_attrs"].dump()[1:]
            ess = ess_attributes(signed_bytes)
            attrs = _attributes(signer_info["signed_attrs"])
            times = [t for t in attrs.get(_SIGNING_TIME, []) if t is not None]
            result.signing_time = times[0].native if times else None
            types = attrs.get(_CONTENT_TYPE, [])
            if len(types) != 1 or types[0] is None or types[0].dotted != content_type:
                result.reasons.append("content_type_mismatch")
            digests = attrs.get(_MESSAGE_DIGEST, [])
            if len(digests) != 1 or digests[0] is None:
                result.reasons.append("message_digest_missing")
            elif not hmac.compare_digest(bytes(digests[0].native), hash_data(digest_oid, content)):
                result.reasons.append("message_digest_mismatch")
            binding = _binding(attrs, cert, ess)
            if binding is not None:
                result.reasons.append(binding)
        else:
            signed_bytes = content
        result.signature_valid = verify_signature(cert.public_key, sig_alg, signed_bytes, signature, digest_oid)
    except UnsupportedAlgorithm as exc:
        result.reasons.append("unsupported_algorithm")
        result.detail = exc.detail
        return result
    except AuthsvcError:
        raise
    except ASN1_ERRORS:
        result.reasons.append("malformed_attributes")
        return result
    if not result.signature_valid:
        result.reasons.append("bad_signature")

    unsigned = _attributes(signer_info["unsigned_attrs"])
    tokens = unsigned.get(_TST_ATTR, [])
    if tokens and timestamp_hook is not None and tokens[0] is not None:
        result.timestamp = await timestamp_hook(tokens[0].dump(), signature)
        if not result.timestamp.valid:
            result.reasons.append("timestamp_invalid")

    when: datetime
    if at is not None:
        when, result.time_source = at, "given"
    elif result.timestamp is not None and result.timestamp.valid and result.timestamp.gen_time is not None:
        when, result.time_source = result.timestamp.gen_time, "timestamp"
    else:
        when, result.time_source = datetime.now(UTC), "now"
    result.validated_at = when
    result.path = await validator.validate(cert, at=when, other_certs=certs, required_key_usage=required_key_usage)
    result.reasons.extend(result.path.reasons)
    result.detail = result.path.detail
    result.valid = result.signature_valid and not result.reasons
    return result


@dataclass(frozen=True, slots=True)
class ParsedCms:
    """A readable SignedData: its certificates, content type and embedded content (None when detached)."""

    signed: cms.SignedData
    certificates: list[x509.Certificate]
    content_type: str
    embedded: bytes | None


def parse_cms(data: bytes | str | cms.ContentInfo) -> ParsedCms:
    """Parse a CMS SignedData (DER, PEM or base64, or a ContentInfo loaded from DER and not yet read
    further); raises :class:`CmsParseError` / BadEncoding if unreadable."""
    signed, certs = _parse(data)
    try:
        # Read eContent as a plain OCTET STRING whatever its type: asn1crypto's per-type specs
        # (TSTInfo, ...) would parse it, and unknown types fail to load at all.
        encap = _RawEncapsulatedContent.load(signed["encap_content_info"].dump())
        content_type = encap["content_type"].dotted
        embedded: bytes | None = encap["content"].native
    except AuthsvcError:
        raise
    except ASN1_ERRORS as exc:
        raise CmsParseError(f"unreadable encapsulated content: {exc}") from exc
    return ParsedCms(signed, certs, content_type, embedded)


async def verify_cms(
    data: bytes | str | ParsedCms,
    *,
    validator: PathSource,
    content: bytes | None = None,
    at: datetime | None = None,
    required_key_usage: Sequence[str] = ("digital_signature",),
    timestamp_hook: TimestampHook | None = None,
) -> CmsResult:
    """Verify every signer of a CMS SignedData (DER, PEM or base64, or already parsed; attached or detached).

    ``content`` is required for detached signatures; for attached ones, if given, it must equal
    the embedded content. Raises :class:`CmsParseError` / BadEncoding only for unreadable input.
    """
    parsed = data if isinstance(data, ParsedCms) else parse_cms(data)
    signed, certs, content_type, embedded = parsed.signed, parsed.certificates, parsed.content_type, parsed.embedded
    reasons: list[str] = []
    signed_content = embedded if embedded is not None else content
    if embedded is not None and content is not None and not hmac.compare_digest(embedded, content):
        reasons.append("content_mismatch")
    try:
        signer_infos = list(signed["signer_infos"])
        signers = [
            await _verify_signer(
                si,
                certs,
                content_type,
                signed_content,
                validator=validator,
                at=at,
                required_key_usage=required_key_usage,
                timestamp_hook=timestamp_hook,
            )
            for si in signer_infos
        ]
    except AuthsvcError:
        raise
    except ASN1_ERRORS as exc:
        raise CmsParseError(f"unreadable SignerInfo: {exc}") from exc
    if not signers:
        reasons.append("no_signers")
    return CmsResult(
        valid=not reasons and all(s.valid for s in signers),
        reasons=reasons,
        detached=embedded is None,
        content_type=content_type,
        signers=signers,
        content=signed_content,
    )


def verify_cms_sync(
    data: bytes | str,
    *,
    validator: PathSource,
    content: bytes | None = None,
    at: datetime | None = None,
    required_key_usage: Sequence[str] = ("digital_signature",),
) -> CmsResult:
    """:func:`verify_cms` for worker processes (no running event loop; no time-stamp hook)."""
    return asyncio.run(
        verify_cms(data, validator=validator, content=content, at=at, required_key_usage=required_key_usage)
    )
