"""CRL parsing and validation (RFC 5280 §5, §6.3) for the NCA RK PKI (R-7.1, KZ-PKI.md §3-4).

NCANode never checked a CRL's signature, issuer or freshness; this module refuses to use a CRL until
all three hold. The envelope (issuer, times, extensions) is read with asn1crypto on small slices, the
signature is checked over the raw ``tbsCertList`` bytes, and the revoked list is handed to
:mod:`authsvc.pki.crl_index` without ever becoming ASN.1 objects.

NCA's GOST-2015 CRL writes the inner signature AlgorithmIdentifier without parameters and the outer
one with NULL; pyca/cryptography refuses that, we accept it when the OIDs agree (absent == NULL).
"""

from __future__ import annotations

import hashlib
import mmap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from asn1crypto import algos, core, x509
from asn1crypto import crl as asn1_crl

from authsvc import error_codes
from authsvc.errors import AuthsvcError, UpstreamUnavailable
from authsvc.pki import algorithms
from authsvc.pki.crl_index import (
    Buffer,
    CrlIndex,
    DerError,
    build_index,
    cert_parts,
    certificate_der,
    collect_sort_keys,
    der_children,
    der_header,
    raw_extensions,
)

__all__ = [
    "CrlError",
    "CrlInfo",
    "ParsedCrl",
    "check_crl_fresh",
    "crl_urls",
    "index_crl",
    "index_crl_file",
    "parse_crl",
    "reason_name",
    "validate_crl",
    "verify_crl_signature",
]

REASONS: Final = (
    "unspecified",
    "key_compromise",
    "ca_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
    "",  # 7 is unused
    "remove_from_crl",
    "privilege_withdrawn",
    "aa_compromise",
)
_NULL_PARAMS: Final = (b"", b"\x05\x00")
EXPIRED_CERTS_ON_CRL: Final = "2.5.29.60"
_KNOWN_CRITICAL: Final = frozenset({"2.5.29.27", "2.5.29.28"})  # deltaCRLIndicator, issuingDistributionPoint


class CrlError(UpstreamUnavailable):
    """A downloaded CRL cannot be used: malformed, wrongly signed, foreign, stale or regressed."""

    code = error_codes.CRL_INVALID
    title = "Unusable certificate revocation list"


@dataclass(frozen=True, slots=True)
class CrlInfo:
    """A CRL's identity and scope; plain values so it pickles to and from worker processes."""

    issuer_der: bytes
    issuer: str
    this_update: datetime
    next_update: datetime | None
    crl_number: int | None
    base_crl_number: int | None  # set on delta CRLs (deltaCRLIndicator)
    authority_key_id: bytes | None
    freshest_crl_urls: tuple[str, ...]
    signature_algorithm: str
    sha256: str
    size: int
    # RFC 5280 §5.2 ExpiredCertsOnCRL (2.5.29.60): revoked certificates that expired on or after this date are
    # still listed. Without it a CRL says nothing of certificates that expired before its thisUpdate.
    expired_certs_on_crl: datetime | None = None

    def speaks_for(self, not_after: datetime) -> bool:
        """Whether this CRL would still list a certificate expiring at ``not_after`` had it been revoked
        (NCA drops expired certificates from its CRLs)."""
        if self.this_update <= not_after:
            return True
        return self.expired_certs_on_crl is not None and self.expired_certs_on_crl <= not_after

    @property
    def is_delta(self) -> bool:
        return self.base_crl_number is not None

    def to_meta(self) -> dict[str, Any]:
        return {
            "issuer_der": self.issuer_der.hex(),
            "issuer": self.issuer,
            "this_update": self.this_update.isoformat(),
            "next_update": self.next_update.isoformat() if self.next_update else None,
            "crl_number": self.crl_number,
            "base_crl_number": self.base_crl_number,
            "authority_key_id": self.authority_key_id.hex() if self.authority_key_id else None,
            "freshest_crl_urls": list(self.freshest_crl_urls),
            "signature_algorithm": self.signature_algorithm,
            "sha256": self.sha256,
            "size": self.size,
            "expired_certs_on_crl": self.expired_certs_on_crl.isoformat() if self.expired_certs_on_crl else None,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> CrlInfo:
        next_update = meta["next_update"]
        aki = meta["authority_key_id"]
        return cls(
            issuer_der=bytes.fromhex(meta["issuer_der"]),
            issuer=str(meta["issuer"]),
            this_update=datetime.fromisoformat(meta["this_update"]),
            next_update=datetime.fromisoformat(next_update) if next_update else None,
            crl_number=meta["crl_number"],
            base_crl_number=meta["base_crl_number"],
            authority_key_id=bytes.fromhex(aki) if aki else None,
            freshest_crl_urls=tuple(meta["freshest_crl_urls"]),
            signature_algorithm=str(meta["signature_algorithm"]),
            sha256=str(meta["sha256"]),
            size=int(meta["size"]),
            expired_certs_on_crl=datetime.fromisoformat(expired)
            if (expired := meta.get("expired_certs_on_crl"))
            else None,
        )


@dataclass(frozen=True, slots=True)
class ParsedCrl:
    """A parsed CRL: its info, the byte ranges needed to verify it and to index its entries."""

    der: Buffer
    info: CrlInfo
    tbs_range: tuple[int, int]
    revoked_range: tuple[int, int]
    inner_algorithm: bytes
    outer_algorithm: bytes
    signature: bytes = field(repr=False)


def _time(buf: Buffer, tag: int, pos: int, end: int) -> datetime:
    raw = bytes(buf[pos:end])
    value = (core.UTCTime if tag == 0x17 else core.GeneralizedTime).load(raw).native
    if not isinstance(value, datetime):
        raise CrlError("CRL time is not a date", code=error_codes.CRL_MALFORMED)
    return value.astimezone(UTC)


def _parse_extensions(raw: bytes) -> dict[str, Any]:
    exts = asn1_crl.TBSCertListExtensions.load(raw)
    found: dict[str, Any] = {}
    for ext in exts:
        oid = ext["extn_id"].dotted
        if ext["critical"].native and oid not in _KNOWN_CRITICAL:
            raise CrlError(f"CRL has an unknown critical extension {oid}", code=error_codes.CRL_UNSUPPORTED)
        found[oid] = ext["extn_value"].parsed
    return found


def _freshest_urls(value: Any) -> tuple[str, ...]:
    """URIs of the full names in CRLDistributionPoints-shaped values (CDP and freshestCRL alike)."""
    urls: list[str] = []
    for point in value or ():
        name = point["distribution_point"]
        if name.name != "full_name":
            continue
        urls.extend(g.native for g in name.chosen if g.name == "uniform_resource_identifier")
    return tuple(urls)


def parse_crl(der: Buffer) -> ParsedCrl:
    """Parse a DER CRL envelope; raises :class:`CrlError` (code ``crl_malformed``) on any bad input."""
    if not der or der[0] != 0x30:
        raise CrlError("downloaded CRL is not DER (empty, PEM or an HTML page)", code=error_codes.CRL_MALFORMED)
    try:
        return _parse(der)
    except AuthsvcError:
        raise
    except (DerError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, CrlError):
            raise
        raise CrlError(f"malformed CRL: {exc}", code=error_codes.CRL_MALFORMED) from exc


def _parse(der: Buffer) -> ParsedCrl:
    _, start, end = der_header(der, 0)
    if end != len(der):
        raise CrlError("trailing bytes after the CRL", code=error_codes.CRL_MALFORMED)
    parts = list(der_children(der, start, end))
    if [p[0] for p in parts] != [0x30, 0x30, 0x03]:
        raise CrlError("CRL is not SEQUENCE{tbsCertList, algorithm, signature}", code=error_codes.CRL_MALFORMED)
    _, tbs_pos, tbs_start, tbs_end = parts[0]
    outer_alg = bytes(der[parts[1][1] : parts[1][3]])
    bits = bytes(der[parts[2][2] : parts[2][3]])
    if not bits or bits[0] != 0:
        raise CrlError("CRL signature BIT STRING has unused bits", code=error_codes.CRL_MALFORMED)
    fields = list(der_children(der, tbs_start, tbs_end))
    index = 0
    if fields and fields[0][0] == 0x02:
        if der[fields[0][2] : fields[0][3]] != b"\x01":
            raise CrlError("only v2 CRLs carry a version field", code=error_codes.CRL_MALFORMED)
        index = 1
    try:
        (alg_tag, alg_pos, _, alg_end), (name_tag, name_pos, _, name_end) = fields[index : index + 2]
        this_tag, this_pos, _, this_end = fields[index + 2]
    except ValueError as exc:
        raise CrlError(
            "CRL is missing its signature algorithm, issuer or thisUpdate", code=error_codes.CRL_MALFORMED
        ) from exc
    if alg_tag != 0x30 or name_tag != 0x30 or this_tag not in (0x17, 0x18):
        raise CrlError("CRL header fields are out of order", code=error_codes.CRL_MALFORMED)
    rest = fields[index + 3 :]
    next_update = None
    if rest and rest[0][0] in (0x17, 0x18):
        next_update = _time(der, rest[0][0], rest[0][1], rest[0][3])
        rest = rest[1:]
    revoked_range = (0, 0)
    if rest and rest[0][0] == 0x30:
        revoked_range = (rest[0][2], rest[0][3])
        rest = rest[1:]
    extensions: dict[str, Any] = {}
    if rest and rest[0][0] == 0xA0:
        extensions = _parse_extensions(bytes(der[rest[0][2] : rest[0][3]]))
        rest = rest[1:]
    if rest:
        raise CrlError("unexpected fields at the end of tbsCertList", code=error_codes.CRL_MALFORMED)
    idp = extensions.get("2.5.29.28")
    if idp is not None and (idp["indirect_crl"].native or idp["only_some_reasons"].native):
        raise CrlError("indirect or reason-partitioned CRLs are not supported", code=error_codes.CRL_UNSUPPORTED)
    issuer_der = bytes(der[name_pos:name_end])
    aki = extensions.get("2.5.29.35")
    number = extensions.get("2.5.29.20")
    base = extensions.get("2.5.29.27")
    expired_on = extensions.get(EXPIRED_CERTS_ON_CRL)
    if expired_on is not None and not isinstance(expired_on.native, datetime):
        raise CrlError("ExpiredCertsOnCRL is not a GeneralizedTime", code=error_codes.CRL_MALFORMED)
    info = CrlInfo(
        issuer_der=issuer_der,
        issuer=x509.Name.load(issuer_der).human_friendly,
        this_update=_time(der, this_tag, this_pos, this_end),
        next_update=next_update,
        crl_number=number.native if number is not None else None,
        base_crl_number=base.native if base is not None else None,
        authority_key_id=aki["key_identifier"].native if aki is not None else None,
        freshest_crl_urls=_freshest_urls(extensions.get("2.5.29.46")),
        signature_algorithm=algos.SignedDigestAlgorithm.load(outer_alg)["algorithm"].dotted,
        sha256=hashlib.sha256(der).hexdigest(),
        size=len(der),
        expired_certs_on_crl=expired_on.native.astimezone(UTC) if expired_on is not None else None,
    )
    return ParsedCrl(
        der=der,
        info=info,
        tbs_range=(tbs_pos, tbs_end),
        revoked_range=revoked_range,
        inner_algorithm=bytes(der[alg_pos:alg_end]),
        outer_algorithm=outer_alg,
        signature=bits[1:],
    )


def _split_algorithm(raw: bytes) -> tuple[bytes, bytes]:
    _, start, end = der_header(raw, 0)
    parts = list(der_children(raw, start, end))
    if not parts or parts[0][0] != 0x06 or len(parts) > 2:
        raise CrlError("malformed AlgorithmIdentifier", code=error_codes.CRL_MALFORMED)
    params = raw[parts[1][1] : parts[1][3]] if len(parts) == 2 else b""
    return raw[parts[0][1] : parts[0][3]], params


def _der_of(cert: x509.Certificate | bytes) -> bytes:
    return certificate_der(cert)


def verify_crl_signature(parsed: ParsedCrl, issuer: x509.Certificate | bytes) -> None:
    """Check the CRL's signature with the issuer's key; raises :class:`CrlError` if it does not hold."""
    inner_oid, inner_params = _split_algorithm(parsed.inner_algorithm)
    outer_oid, outer_params = _split_algorithm(parsed.outer_algorithm)
    same_params = inner_params == outer_params or (inner_params in _NULL_PARAMS and outer_params in _NULL_PARAMS)
    if inner_oid != outer_oid or not same_params:
        raise CrlError("inner and outer CRL signature algorithms differ", code=error_codes.CRL_SIGNATURE_INVALID)
    start, end = parsed.tbs_range
    try:
        spki = cert_parts(_der_of(issuer)).spki
    except DerError as exc:
        raise CrlError(f"unreadable issuer certificate: {exc}", code=error_codes.CRL_ISSUER_MISMATCH) from exc
    algorithm = algos.SignedDigestAlgorithm.load(parsed.outer_algorithm)
    try:
        valid = algorithms.verify_signature(spki, algorithm, bytes(parsed.der[start:end]), parsed.signature)
    except algorithms.UnsupportedAlgorithm as exc:
        raise CrlError(f"cannot verify the CRL: {exc.detail}", code=error_codes.CRL_UNSUPPORTED) from exc
    if not valid:
        raise CrlError("CRL signature does not verify with the issuer's key", code=error_codes.CRL_SIGNATURE_INVALID)


def _check_issuer(info: CrlInfo, issuer_der: bytes) -> None:
    try:
        subject = x509.Name.load(cert_parts(issuer_der).subject)
        extensions = raw_extensions(issuer_der)
    except AuthsvcError:
        raise
    except (DerError, ValueError) as exc:
        raise CrlError(f"unreadable issuer certificate: {exc}", code=error_codes.CRL_ISSUER_MISMATCH) from exc
    if x509.Name.load(info.issuer_der) != subject:
        raise CrlError(
            f"CRL issuer {info.issuer!r} is not {subject.human_friendly!r}", code=error_codes.CRL_ISSUER_MISMATCH
        )
    ski = extensions.get("2.5.29.14")
    if (
        info.authority_key_id is not None
        and ski is not None
        and core.OctetString.load(ski[1]).native != info.authority_key_id
    ):
        raise CrlError("CRL authority key id does not match the issuer", code=error_codes.CRL_ISSUER_MISMATCH)
    key_usage = extensions.get("2.5.29.15")
    if key_usage is not None and "crl_sign" not in x509.KeyUsage.load(key_usage[1]).native:
        raise CrlError("issuer certificate may not sign CRLs (keyUsage)", code=error_codes.CRL_ISSUER_MISMATCH)


def check_crl_fresh(info: CrlInfo, now: datetime, *, skew: timedelta, max_age: timedelta) -> None:
    """thisUpdate must not be in the future; now must be before nextUpdate (or within max_age)."""
    if info.this_update > now + skew:
        raise CrlError(
            f"CRL thisUpdate {info.this_update.isoformat()} is in the future", code=error_codes.CRL_NOT_YET_VALID
        )
    deadline = info.next_update if info.next_update is not None else info.this_update + max_age
    if now > deadline + skew:
        raise CrlError(f"CRL expired at {deadline.isoformat()}", code=error_codes.CRL_EXPIRED)


def validate_crl(
    der: Buffer,
    issuer: x509.Certificate | bytes,
    now: datetime,
    *,
    skew: timedelta = timedelta(minutes=5),
    max_age: timedelta = timedelta(days=7),
    min_crl_number: int | None = None,
    delta: bool | None = None,
) -> ParsedCrl:
    """Parse and fully check a CRL (issuer, signature, freshness, CRL number, base/delta kind)."""
    parsed = parse_crl(der)
    info = parsed.info
    issuer_der = _der_of(issuer)
    _check_issuer(info, issuer_der)
    if delta is not None and info.is_delta != delta:
        raise CrlError("expected a " + ("delta" if delta else "complete") + " CRL", code=error_codes.CRL_UNSUPPORTED)
    if info.is_delta and info.crl_number is None:
        raise CrlError("delta CRL without a CRL number", code=error_codes.CRL_MALFORMED)
    if min_crl_number is not None and info.crl_number is not None and info.crl_number < min_crl_number:
        raise CrlError(
            f"CRL number went backwards ({info.crl_number} < {min_crl_number})", code=error_codes.CRL_NUMBER_REGRESSED
        )
    check_crl_fresh(info, now, skew=skew, max_age=max_age)
    verify_crl_signature(parsed, issuer_der)
    return parsed


def index_crl(parsed: ParsedCrl, extra_meta: dict[str, Any] | None = None) -> CrlIndex:
    """Index a validated CRL's revoked serials; metadata carries :meth:`CrlInfo.to_meta`."""
    meta = parsed.info.to_meta() | (extra_meta or {})
    start, end = parsed.revoked_range
    try:
        return build_index(parsed.der, start, end, meta)
    except DerError as exc:
        raise CrlError(f"malformed revoked-certificate list: {exc}", code=error_codes.CRL_MALFORMED) from exc


def index_crl_file(
    path: Path, issuer: x509.Certificate | bytes, now: datetime, **checks: Any
) -> tuple[CrlIndex, CrlInfo]:
    """Validate and index a CRL file through an mmap, unmapped before the index is assembled.

    The mapping is released as soon as the entries are walked, so a 19 MB CRL never sits in memory
    beside the sort keys and the finished index (benchmarks/bench_crl.py measures the peak).
    ``checks`` are :func:`validate_crl`'s keyword arguments.
    """
    with path.open("rb") as handle:
        if path.stat().st_size == 0:
            raise CrlError("downloaded CRL is empty", code=error_codes.CRL_MALFORMED)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            parsed = validate_crl(mapped, issuer, now, **checks)
            info = parsed.info
            try:
                keys, width = collect_sort_keys(mapped, *parsed.revoked_range)
            except DerError as exc:
                raise CrlError(f"malformed revoked-certificate list: {exc}", code=error_codes.CRL_MALFORMED) from exc
            del parsed
    return CrlIndex.from_sort_keys(keys, width, info.to_meta()), info


def crl_urls(cert: x509.Certificate | bytes) -> tuple[list[str], list[str]]:
    """(CRL distribution point URLs, freshestCRL i.e. delta-CRL URLs) named by a certificate.

    Only a hint for configuring :class:`authsvc.pki.crl_cache.CrlSource`: NCA's test GOST-2004 leaves
    point at the RSA CA's CRL, so the cache always picks a CRL by its verified issuer, never by URL.
    """
    extensions = raw_extensions(_der_of(cert))
    found: list[list[str]] = []
    for oid in ("2.5.29.31", "2.5.29.46"):
        raw = extensions.get(oid)
        found.append(list(_freshest_urls(asn1_crl.CRLDistributionPoints.load(raw[1]))) if raw else [])
    return found[0], found[1]


def reason_name(code: int | None) -> str | None:
    """RFC 5280 CRLReason code to its snake_case name (None when the CRL gives no reason)."""
    if code is None:
        return None
    return REASONS[code] if 0 <= code < len(REASONS) and REASONS[code] else f"reason_{code}"
