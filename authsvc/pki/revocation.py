"""Revocation checking policy: OCSP and/or CRL, hard- or soft-fail, with evidence (R-7.1, R-10.1, R-12.1).

NCANode left revocation off by default and trusted whatever came back (KZ-PKI.md §4). Here every answer
is a checked OCSP response (:mod:`authsvc.pki.ocsp`) or a lookup in a validated, fresh CRL
(:mod:`authsvc.pki.crl_cache`), and the result carries the evidence (the OCSP response DER, or the CRL
number and SHA-256) so a contract signature can be re-verified offline years later.

Time: ``at`` is the moment the signature must be judged (a trusted time stamp's genTime, or now). The
revocation data itself must be fresh *now*; a certificate revoked after ``at`` is reported ``good`` with
``revoked_after_at`` set and the revocation details kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Protocol

from asn1crypto import x509

from authsvc import error_codes
from authsvc.errors import AuthsvcError, UpstreamUnavailable
from authsvc.pki.crl import reason_name
from authsvc.pki.crl_archive import answer_at
from authsvc.pki.crl_cache import CrlCache
from authsvc.pki.crl_index import DerError, certificate_der, raw_extensions
from authsvc.pki.ocsp import OcspResult, OcspStatus, build_ocsp_request, verify_ocsp_response

__all__ = [
    "OcspTransport",
    "RevocationChecker",
    "RevocationOrder",
    "RevocationPolicy",
    "RevocationResult",
    "RevocationSource",
    "RevocationStatus",
    "RevocationUnavailable",
    "ocsp_urls",
]

log = logging.getLogger(__name__)


class RevocationOrder(StrEnum):
    OCSP_THEN_CRL = "ocsp_then_crl"
    CRL_THEN_OCSP = "crl_then_ocsp"
    OCSP_ONLY = "ocsp_only"
    CRL_ONLY = "crl_only"


class RevocationStatus(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


class RevocationSource(StrEnum):
    OCSP = "ocsp"
    CRL = "crl"
    NONE = "none"  # soft-fail: no source could answer


class RevocationUnavailable(UpstreamUnavailable):
    """Hard-fail policy and neither OCSP nor a fresh CRL could answer."""

    code = error_codes.REVOCATION_UNAVAILABLE


class OcspTransport(Protocol):
    """What the checker needs from :class:`authsvc.parties.nca.NcaClient`."""

    async def ocsp(self, url: str, request_der: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class RevocationPolicy:
    order: RevocationOrder = RevocationOrder.OCSP_THEN_CRL
    hard_fail: bool = True
    ocsp_url: str | None = None  # overrides the certificate's AIA (e.g. the NCA simulator)
    ocsp_hash: str = "sha256"
    require_nonce: bool = True  # NCA's responder echoes the nonce
    ocsp_max_age: timedelta = timedelta(minutes=15)  # NCA sends no nextUpdate: judge thisUpdate
    ocsp_cache_ttl: timedelta = timedelta(minutes=5)
    ocsp_cache_size: int = 10_000
    skew: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RevocationResult:
    status: RevocationStatus
    source: RevocationSource
    checked_at: datetime
    at: datetime
    serial: int
    revocation_time: datetime | None = None
    revocation_reason: str | None = None
    revoked_after_at: bool = False
    crl_number: int | None = None
    crl_sha256: str | None = None
    delta_crl_number: int | None = None
    delta_crl_sha256: str | None = None
    evidence: bytes | None = field(default=None, repr=False)  # OCSP response DER, or CRL facts as JSON
    errors: tuple[str, ...] = ()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """OCSP URLs from the Authority Information Access extension (read raw: NCA quirks)."""
    aia = raw_extensions(certificate_der(cert)).get("1.3.6.1.5.5.7.1.1")
    if aia is None:
        return []
    return [
        desc["access_location"].native
        for desc in x509.AuthorityInfoAccessSyntax.load(aia[1])
        if desc["access_method"].native == "ocsp" and desc["access_location"].name == "uniform_resource_identifier"
    ]


class RevocationChecker:
    """Answers "was this certificate revoked at ``at``?" under one deployment's policy."""

    def __init__(
        self,
        policy: RevocationPolicy,
        *,
        ocsp_client: OcspTransport | None = None,
        crl_cache: CrlCache | None = None,
        executor: Executor | None = None,
        clock: Callable[[], datetime] = _utcnow,
        ocsp_health: dict[str, bool] | None = None,
    ) -> None:
        self._policy = policy
        self._ocsp = ocsp_client
        # issuer SHA-256 -> whether its last OCSP exchange answered (shared by a deployment's checkers: /readyz)
        self.ocsp_health: dict[str, bool] = {} if ocsp_health is None else ocsp_health
        self._crls = crl_cache
        self._executor = executor
        self._now = clock
        self._cache: OrderedDict[tuple[str, int], tuple[float, OcspResult]] = OrderedDict()

    async def check(self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime) -> RevocationResult:
        """Check one certificate; raises :class:`RevocationUnavailable` only under hard-fail."""
        order = {
            RevocationOrder.OCSP_THEN_CRL: ("ocsp", "crl"),
            RevocationOrder.CRL_THEN_OCSP: ("crl", "ocsp"),
            RevocationOrder.OCSP_ONLY: ("ocsp",),
            RevocationOrder.CRL_ONLY: ("crl",),
        }[self._policy.order]
        errors: list[str] = []
        undecided: RevocationResult | None = None
        for source in order:
            result = await (self._via_ocsp if source == "ocsp" else self._via_crl)(cert, issuer, at, errors)
            if result is None:
                continue
            if result.status != RevocationStatus.UNKNOWN:
                return result
            undecided = undecided or result  # e.g. NCA's "unknown": let the CRL try to decide
        if undecided is not None:
            return _with_errors(undecided, errors)
        if self._policy.hard_fail:
            raise RevocationUnavailable("no revocation source could answer: " + "; ".join(errors), errors=errors)
        return RevocationResult(
            status=RevocationStatus.UNKNOWN,
            source=RevocationSource.NONE,
            checked_at=self._now(),
            at=at,
            serial=cert.serial_number,
            errors=tuple(errors),
        )

    # --- OCSP ---------------------------------------------------------------------------------------
    async def _via_ocsp(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime, errors: list[str]
    ) -> RevocationResult | None:
        if self._ocsp is None:
            errors.append("ocsp: not configured")
            return None
        key = (hashlib.sha256(certificate_der(issuer)).hexdigest(), cert.serial_number)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return self._from_ocsp(cached[1], at)
        try:
            urls = [self._policy.ocsp_url] if self._policy.ocsp_url else ocsp_urls(cert)
        except AuthsvcError:
            raise
        except (DerError, ValueError) as exc:
            errors.append(f"ocsp: unreadable AIA ({exc})")
            return None
        if not urls:
            errors.append("ocsp: the certificate names no responder")
            return None
        request = build_ocsp_request(cert, issuer, hash_algorithm=self._policy.ocsp_hash)
        check = partial(
            verify_ocsp_response,
            request=request,
            issuer=certificate_der(issuer),
            now=self._now(),
            require_nonce=self._policy.require_nonce,
            max_age=self._policy.ocsp_max_age,
            skew=self._policy.skew,
        )
        try:
            response = await self._ocsp.ocsp(urls[0], request.der)
            loop = asyncio.get_running_loop()
            # GOST verification is CPU work: keep it off the event loop (DESIGN.md §4).
            verified = await loop.run_in_executor(self._executor, partial(check, response))
        except (AuthsvcError, OSError, TimeoutError) as exc:
            code = getattr(exc, "code", type(exc).__name__)
            errors.append(f"ocsp: {code}: {exc}")
            log.warning("OCSP check failed", extra={"code": code, "url": urls[0]})
            self.ocsp_health[key[0]] = False
            return None
        self.ocsp_health[key[0]] = True
        self._remember(key, verified)
        return self._from_ocsp(verified, at)

    def _remember(self, key: tuple[str, int], result: OcspResult) -> None:
        self._cache[key] = (time.monotonic() + self._policy.ocsp_cache_ttl.total_seconds(), result)
        self._cache.move_to_end(key)
        while len(self._cache) > self._policy.ocsp_cache_size:
            self._cache.popitem(last=False)

    def _from_ocsp(self, result: OcspResult, at: datetime) -> RevocationResult:
        status = RevocationStatus(result.status.value)
        later = False
        if result.status == OcspStatus.REVOKED and result.revocation_time is not None and result.revocation_time > at:
            status, later = RevocationStatus.GOOD, True
        return RevocationResult(
            status=status,
            source=RevocationSource.OCSP,
            checked_at=result.produced_at,
            at=at,
            serial=result.serial,
            revocation_time=result.revocation_time,
            revocation_reason=result.revocation_reason,
            revoked_after_at=later,
            evidence=result.response_der,
        )

    # --- CRL ----------------------------------------------------------------------------------------
    async def _via_crl(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime, errors: list[str]
    ) -> RevocationResult | None:
        if self._crls is None or not self._crls.has_issuer(issuer):
            errors.append("crl: no CRL configured for this issuer")
            return None
        found = self._crls.lookup(issuer, cert.serial_number)
        if found is None:
            errors.append("crl: no fresh CRL held for this issuer")
            return None
        not_after = _not_after(cert)
        if (
            not found.revoked
            and found.info is not None
            and not_after is not None
            and not found.info.speaks_for(not_after)
        ):
            # RFC 5280 §3.3: NCA drops certificates from its CRLs once they expire, so a CRL issued after this
            # one expired proves nothing about a past moment: ask the archive for the CRL then.
            return await self._archived_crl(cert, issuer, at, not_after, found.info.this_update, errors)
        status, when, reason, later = RevocationStatus.GOOD, None, None, False
        if found.revoked and found.entry is not None:
            when = datetime.fromtimestamp(found.entry.revoked_at, UTC)
            reason = reason_name(found.entry.reason)
            if when <= at:
                status = RevocationStatus.REVOKED
            else:
                later = True
        evidence = json.dumps(
            {
                "crl_number": found.crl_number,
                "crl_sha256": found.crl_sha256,
                "this_update": found.this_update.isoformat(),
                "delta_crl_number": found.delta_crl_number,
                "delta_sha256": found.delta_sha256,
            },
            sort_keys=True,
        ).encode()
        return RevocationResult(
            status=status,
            source=RevocationSource.CRL,
            checked_at=self._now(),
            at=at,
            serial=cert.serial_number,
            revocation_time=when,
            revocation_reason=reason,
            revoked_after_at=later,
            crl_number=found.crl_number,
            crl_sha256=found.crl_sha256,
            delta_crl_number=found.delta_crl_number,
            delta_crl_sha256=found.delta_sha256,
            evidence=evidence,
        )

    async def _archived_crl(
        self,
        cert: x509.Certificate,
        issuer: x509.Certificate,
        at: datetime,
        not_after: datetime,
        held_this_update: datetime,
        errors: list[str],
    ) -> RevocationResult:
        """The answer of the archived CRL current at ``at``, else ``unknown`` with the reason."""
        assert self._crls is not None
        job = partial(answer_at, str(self._crls.directory), certificate_der(issuer), cert.serial_number, at, not_after)
        answer = await asyncio.get_running_loop().run_in_executor(self._executor, job)
        if isinstance(answer, str):
            errors.append(
                f"crl: the held CRL (thisUpdate {held_this_update.isoformat()}) was issued after the certificate "
                f"expired ({not_after.isoformat()}) and no longer lists it; {answer}"
            )
            return RevocationResult(
                status=RevocationStatus.UNKNOWN,
                source=RevocationSource.CRL,
                checked_at=self._now(),
                at=at,
                serial=cert.serial_number,
                errors=tuple(errors),
            )
        status, when, later = RevocationStatus.GOOD, None, False
        if answer["revoked_at"] is not None:
            when = datetime.fromtimestamp(answer["revoked_at"], UTC)
            status, later = (RevocationStatus.REVOKED, False) if when <= at else (RevocationStatus.GOOD, True)
        evidence = {k: answer[k] for k in ("crl_number", "crl_sha256", "this_update")} | {"archived": True}
        return RevocationResult(
            status=status,
            source=RevocationSource.CRL,
            checked_at=self._now(),
            at=at,
            serial=cert.serial_number,
            revocation_time=when,
            revocation_reason=answer["reason"],
            revoked_after_at=later,
            crl_number=answer["crl_number"],
            crl_sha256=answer["crl_sha256"],
            evidence=json.dumps(evidence, sort_keys=True).encode(),
        )


def _not_after(cert: x509.Certificate) -> datetime | None:
    try:
        value = cert["tbs_certificate"]["validity"]["not_after"].native
    except (ValueError, KeyError, TypeError):
        return None
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def _with_errors(result: RevocationResult, errors: list[str]) -> RevocationResult:
    return replace(result, errors=tuple(errors)) if errors else result
