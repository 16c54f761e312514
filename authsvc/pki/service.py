"""The EDS verification facade the API and the methods use (R-7.1, R-10.1, R-12.1).

`Verifier` wires the trust store, the revocation checker (OCSP and the background CRL cache) and the
process pool: signatures, signed attributes, time stamps and certificate paths are checked in a worker
(`authsvc.pki.workers`: GOST costs milliseconds of pure-Python arithmetic, DESIGN.md §4) — except a small
RSA/ECDSA CMS whose signers' paths are remembered, which is verified on the loop (`authsvc.pki.inline`:
cheaper than the trip to the pool); revocation of each signer's certificate is then asked in the event
loop (network I/O, index look-ups) at the moment the signature is judged. Every verdict is a result with
named reasons — expired, revoked, untrusted, tampered — never an exception; only unreadable input raises
(a 4xx with a stable code).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

from authsvc import error_codes, metrics
from authsvc.config import PkiSettings, ca_source_key, resolve_path
from authsvc.errors import AuthsvcError, UpstreamUnavailable, ValidationFailed
from authsvc.pki import inline
from authsvc.pki.certinfo import cert_info
from authsvc.pki.cms import SignerResult
from authsvc.pki.crl_cache import CrlCache, CrlSource
from authsvc.pki.crl_sources import CrlLabel, revocation_readiness, with_local_files
from authsvc.pki.gost import startup as gost_startup
from authsvc.pki.path import PathResult, PathValidator
from authsvc.pki.reports import CertificateReport, CmsReport, RevocationOut, SignerReport, XmlReport
from authsvc.pki.revocation import (
    OcspTransport,
    RevocationChecker,
    RevocationOrder,
    RevocationPolicy,
    RevocationUnavailable,
)
from authsvc.pki.trust import TrustBundle, TrustStore
from authsvc.pki.workers import attach, certificate_job, cms_job, validator_for, xml_job
from authsvc.pki.xmldsig import XmlSignatureResult

log = logging.getLogger(__name__)

__all__ = [
    "CertificateReport",
    "CmsReport",
    "RevocationChoice",
    "RevocationOut",
    "SignerReport",
    "Verifier",
    "XmlReport",
    "build_verifier",
    "order_for",
]

Source = Literal["ocsp", "crl"]
# The caller's revocation choice: an order, None for no check, or "policy" for the deployment's default.
RevocationChoice = RevocationOrder | None | Literal["policy"]


# --- the facade ---------------------------------------------------------------------------------------
def _count(kind: str, valid: bool, reasons: Sequence[str], signers: Sequence[SignerReport]) -> None:
    """The verdict in /metrics, by its first reason: the document's own, else its first refused signer's."""
    first = list(reasons) or [r for s in signers if not s.valid for r in s.reasons]
    metrics.eds_verdict(kind, valid, first)


def order_for(sources: Sequence[Source]) -> RevocationOrder | None:
    """NCANode's ``revocationCheck`` list as an order: [] = no check."""
    unique = list(dict.fromkeys(sources))
    if not unique:
        return None
    if unique == ["ocsp"]:
        return RevocationOrder.OCSP_ONLY
    if unique == ["crl"]:
        return RevocationOrder.CRL_ONLY
    return RevocationOrder.OCSP_THEN_CRL if unique[0] == "ocsp" else RevocationOrder.CRL_THEN_OCSP


class Verifier:
    """Verification under one deployment's trust and revocation policy."""

    def __init__(
        self,
        trust: TrustStore,
        *,
        policy: RevocationPolicy,
        executor: Executor | None,
        ocsp: OcspTransport | None = None,
        crl_sources: Sequence[tuple[str, str | None, str]] = (),  # (url, delta url, issuer source)
        crl_fetch: Any = None,
        crl_dir: Path | None = None,
        crl_refresh: timedelta = timedelta(hours=1),
        allow_sha1: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.trust = trust
        self._clock = clock
        self.policy = policy
        self._executor = executor
        self._ocsp = ocsp
        self._crl_specs = list(crl_sources)
        self._crl_fetch = crl_fetch
        self._crl_dir = crl_dir
        self._crl_refresh = crl_refresh
        self._allow_sha1 = allow_sha1
        self.crl_cache: CrlCache | None = None
        self.crl_labels: dict[str, CrlLabel] = {}  # CRL URL -> its issuer, for /readyz and /metrics
        self._crl_problems: list[str] = []
        self._checkers: dict[RevocationOrder, RevocationChecker] = {}
        self._ocsp_health: dict[str, bool] = {}  # issuer SHA-256 -> last OCSP exchange answered (all checkers)
        self._starter: asyncio.Task[None] | None = None

    # --- life cycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load file anchors now (ConfigError if unreadable); URL anchors and the CRL cache in the background."""
        gost_startup.prepare()  # OpenSSL's gost engine passes its vectors now, or Python verifies GOST
        self.trust.start()
        self._starter = asyncio.create_task(self._start_crls())

    async def wait_started(self) -> None:
        """Until the trust is loaded and the CRL cache (if configured) has started."""
        if self._starter is not None:
            await asyncio.shield(self._starter)

    async def _start_crls(self) -> None:
        await self.trust.wait_ready()
        try:
            await self._open_crl_cache()
        except Exception:  # the cache is an optimisation of revocation: log, and serve OCSP meanwhile
            log.exception("CRL cache did not start")

    async def _open_crl_cache(self) -> None:
        if not self._crl_specs or self._crl_fetch is None or self._crl_dir is None:
            return
        sources = []
        for url, delta, issuer_source in self._crl_specs:
            issuer = self.trust.certificate_of(issuer_source)
            if issuer is None:  # config validation makes this a bug, never a silent gap
                log.error("CRL issuer certificate not loaded", extra={"url": url, "issuer": issuer_source})
                self._crl_problems.append(f"{issuer_source}: the CRL issuer's certificate is not loaded")
                continue
            sources.append(CrlSource(url, bytes(issuer.dump()), delta))
            source = sources[-1]
            name = cert_info(issuer).subject.common_name or issuer_source
            self.crl_labels[url] = CrlLabel(name, False, source.issuer_key)
            if delta:
                self.crl_labels[delta] = CrlLabel(name, True, source.issuer_key)
        cache = CrlCache(
            self._crl_dir,
            sources,
            self._crl_fetch,
            executor=self._executor,
            refresh_interval=self._crl_refresh,
            clock=self._clock,
        )
        await cache.start()
        self.crl_cache = cache
        self._checkers.clear()

    async def close(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        if self.crl_cache is not None:
            await self.crl_cache.close()
        await self.trust.close()

    @property
    def ready(self) -> bool:
        return self.trust.ready

    def trust_ready(self) -> bool | str:
        """/readyz "trust": True, or which trust certificates are not loaded and why."""
        return self.trust.readiness()

    def revocation_ready(self) -> bool | str:
        """/readyz "revocation": True, or why a configured CA has no usable revocation source:
        no usable CRL, and OCSP not in the order or its last exchange for that CA failed."""
        uncovered: list[str] = []
        if self.policy.order == RevocationOrder.CRL_ONLY and self.trust.ready:
            covered = {s.issuer_key for s in self.crl_cache.sources} if self.crl_cache is not None else set()
            for der in self.trust.bundle().intermediates:
                if hashlib.sha256(der).hexdigest() not in covered:
                    uncovered.append(cert_info(der).subject.common_name or "an intermediate CA")
        with_ocsp = self.policy.order != RevocationOrder.CRL_ONLY and self._ocsp is not None
        return revocation_readiness(
            bool(self._crl_specs),
            self.crl_cache,
            self.crl_labels,
            self._crl_problems,
            uncovered,
            ocsp_answers=(lambda key: self._ocsp_health.get(key, True)) if with_ocsp else None,
        )

    def _bundle(self) -> TrustBundle:
        if not self.trust.ready:
            raise UpstreamUnavailable(
                "the trust anchors are not loaded yet (the NCA simulator may still be starting)",
                code=error_codes.TRUST_NOT_READY,
            )
        return self.trust.bundle()

    def validator(self) -> PathValidator:
        """A validator over the current trust (in this process: for offline re-checks and tests)."""
        return validator_for(self._bundle(), self._allow_sha1)

    async def _run(self, fn: Any, *args: Any) -> Any:
        """Run a job in the pool. Unreadable input answers the parser's code, whatever layer found it;
        a parser bug on hostile input is logged and answered 422 too (never a 500 for bad input)."""
        try:
            job = asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))
        except Exception as exc:  # the pool itself cannot take work (shutting down, cannot start a worker)
            log.exception("verification pool unavailable")
            raise UpstreamUnavailable(
                "the verification workers are unavailable; retry", code=error_codes.WORKERS_UNAVAILABLE
            ) from exc
        try:
            return await job
        except AuthsvcError:  # the parsers' codes are 422s already (the catalogue gives each its status)
            raise
        except BrokenExecutor as exc:
            raise UpstreamUnavailable(
                "the verification workers are restarting; retry", code=error_codes.WORKERS_UNAVAILABLE
            ) from exc
        except Exception as exc:
            log.exception("verification failed on unexpected input")
            raise ValidationFailed("the input could not be verified", code=error_codes.UNVERIFIABLE_INPUT) from exc

    # --- revocation ---------------------------------------------------------------------------------
    def checker(self, order: RevocationOrder | None = None) -> RevocationChecker:
        order = order or self.policy.order
        found = self._checkers.get(order)
        if found is None:
            found = RevocationChecker(
                replace(self.policy, order=order),
                ocsp_client=self._ocsp,
                crl_cache=self.crl_cache,
                executor=self._executor,
                clock=self._clock,
                ocsp_health=self._ocsp_health,
            )
            self._checkers[order] = found
        return found

    async def _revocation(self, report: SignerReport, path: PathResult | None, order: RevocationOrder | None) -> None:
        """Ask about the signer's certificate at the moment it is judged; adds reasons to ``report``."""
        if order is None or path is None or not path.ok:
            return
        if not path.certificates:  # a validated path always has its certificates: fail closed if not
            log.error("validated path without certificates; revocation not checkable")
            report.reasons.append("revocation_unavailable")
            return
        if not path.revocation_pairs:
            return  # the certificate is itself a pinned anchor
        cert, issuer = path.revocation_pairs[0]
        at = path.validated_at
        try:
            result = await self.checker(order).check(cert, issuer, at)
        except RevocationUnavailable as exc:
            report.reasons.append("revocation_unavailable")
            report.detail = exc.detail
            return
        report.revocation_evidence.append(result)
        report.revocations.append(RevocationOut.of(result))
        if result.status.value == "revoked":
            report.reasons.append("revoked")
        elif result.status.value == "unknown" and self.policy.hard_fail:
            report.reasons.append("revocation_unknown")

    # --- verification -------------------------------------------------------------------------------
    async def verify_cms(
        self,
        data: bytes,
        *,
        content: bytes | None = None,
        at: datetime | None = None,
        revocation: RevocationOrder | Literal["policy"] | None = "policy",
        key_usage: Sequence[str] = ("digital_signature",),
    ) -> CmsReport:
        """Verify a CMS (DER/PEM/base64). Raises CmsParseError/BadEncoding only for unreadable input."""
        order = self.policy.order if revocation == "policy" else revocation
        bundle, usage = self._bundle(), tuple(key_usage)
        validator = validator_for(bundle, self._allow_sha1)
        attempt = await inline.try_cms(validator, data, content=content, at=at, usage=usage)
        result = attempt.result
        if result is None:
            result, chains = await self._run(cms_job, bundle, self._allow_sha1, data, content, at, usage)
            attach([s.path for s in result.signers], chains)
            inline.learn(attempt.parsed, result, validator, usage)
        signers = [await self._signer(s, order) for s in result.signers]
        report = CmsReport(
            valid=not result.reasons and bool(signers) and all(s.valid for s in signers),
            reasons=list(result.reasons),
            detached=result.detached,
            content_type=result.content_type,
            signers=signers,
            content=result.content,
        )
        _count("cms", report.valid, report.reasons, signers)
        return report

    async def _signer(self, s: SignerResult | XmlSignatureResult, order: RevocationOrder | None) -> SignerReport:
        path = s.path
        report = SignerReport(
            valid=False,
            reasons=list(s.reasons),
            detail=s.detail,
            signature_valid=s.signature_valid,
            certificate=s.signer,
            chain=list(path.chain) if path is not None else [],
            validated_at=path.validated_at if path is not None else None,
            chain_der=[bytes(c.dump()) for c in path.certificates] if path is not None else [],
        )
        if isinstance(s, SignerResult):
            report.signing_time = s.signing_time
            report.time_source = s.time_source
            report.digest_algorithm = s.digest_algorithm
            report.signature_algorithm = s.signature_algorithm
            report.signed_attributes = s.signed_attributes
            report.timestamp = s.timestamp
        else:
            report.digest_algorithm = s.digest_method
            report.signature_algorithm = s.signature_method
        if s.valid:
            await self._revocation(report, path, order)
        report.valid = s.valid and not report.reasons
        return report

    async def verify_xml(
        self,
        document: bytes,
        *,
        at: datetime | None = None,
        revocation: RevocationOrder | Literal["policy"] | None = "policy",
        key_usage: Sequence[str] = ("digital_signature",),
    ) -> XmlReport:
        order = self.policy.order if revocation == "policy" else revocation
        result, chains = await self._run(xml_job, self._bundle(), self._allow_sha1, document, at, tuple(key_usage))
        attach([s.path for s in result.signatures], chains)
        signatures = [await self._signer(s, order) for s in result.signatures]
        report = XmlReport(
            valid=not result.reasons and bool(signatures) and all(s.valid for s in signatures),
            reasons=list(result.reasons),
            signatures=signatures,
        )
        _count("xml", report.valid, report.reasons, signatures)
        return report

    async def certificate(
        self,
        der: bytes,
        *,
        at: datetime | None = None,
        revocation: RevocationOrder | Literal["policy"] | None = "policy",
        key_usage: Sequence[str] = (),
    ) -> CertificateReport:
        """NCANode's /x509/info plus a verdict: path to a pinned anchor and revocation at ``at`` (now)."""
        order = self.policy.order if revocation == "policy" else revocation
        moment = at or datetime.now(UTC)
        info, path, chains = await self._run(
            certificate_job, self._bundle(), self._allow_sha1, der, moment, tuple(key_usage)
        )
        attach([path], chains)
        holder = SignerReport(
            valid=path.ok, reasons=list(path.reasons), detail=path.detail, signature_valid=True, certificate=info
        )
        await self._revocation(holder, path, order)
        _count("certificate", path.ok and not holder.reasons, holder.reasons, [])
        return CertificateReport(
            valid=path.ok and not holder.reasons,
            reasons=holder.reasons,
            detail=holder.detail,
            certificate=info,
            chain=list(path.chain),
            revocations=holder.revocations,
            validated_at=moment,
        )

    @property
    def crl_dir(self) -> Path | None:
        """Where the CRL cache (and its archive of every CRL relied on) lives; None without CRLs."""
        return self._crl_dir

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` in the verification pool (for re-checks that belong with verification)."""
        return await self._run(fn, *args)

    async def recheck_cms(
        self,
        data: bytes,
        *,
        content: bytes | None,
        at: datetime,
        certificates: Sequence[bytes],
        key_usage: Sequence[str] = ("digital_signature",),
    ) -> CmsReport:
        """Offline re-verification of a stored signature at the moment it was judged: the pinned anchors
        plus the stored ``certificates`` only (never trusted as anchors), no revocation look-up."""
        bundle = self._bundle()
        extra = tuple(d for d in certificates if d not in bundle.anchors)
        offline = TrustBundle(bundle.anchors, tuple(dict.fromkeys((*bundle.intermediates, *extra))))
        result, chains = await self._run(cms_job, offline, self._allow_sha1, data, content, at, tuple(key_usage))
        attach([s.path for s in result.signers], chains)
        signers = [await self._signer(s, None) for s in result.signers]
        return CmsReport(
            valid=not result.reasons and bool(signers) and all(s.valid for s in signers),
            reasons=list(result.reasons),
            detached=result.detached,
            content_type=result.content_type,
            signers=signers,
            content=result.content,
        )


class NcaTransport(OcspTransport, Protocol):
    """What the verifier needs from the NCA's services (`authsvc.parties.nca.NcaClient`, wired in `authsvc.app`)."""

    async def fetch_crl(self, url: str) -> bytes: ...

    async def fetch_certificate(self, url: str) -> bytes: ...


def build_verifier(settings: PkiSettings, executor: Executor | None, nca: NcaTransport) -> Verifier:
    """The deployment's verifier from its `[pki]` settings (anchors, policy, CRL sources, cache dir)."""
    trust = TrustStore(
        anchor_files=[str(resolve_path(f)) for f in settings.anchor_files],
        anchor_urls=settings.anchor_urls,
        intermediate_files=[str(resolve_path(f)) for f in settings.intermediate_files],
        intermediate_urls=settings.intermediate_urls,
        fetch=nca.fetch_certificate,
        retry_s=settings.trust_retry_s,
    )
    policy = RevocationPolicy(
        order=RevocationOrder(settings.revocation_order),
        hard_fail=settings.hard_fail,
        ocsp_url=settings.ocsp_url or None,
        ocsp_max_age=timedelta(seconds=settings.ocsp_max_age_s),
        ocsp_cache_ttl=timedelta(seconds=settings.ocsp_cache_ttl_s),
    )
    return Verifier(
        trust,
        policy=policy,
        executor=executor,
        ocsp=nca,
        crl_sources=[(s.url, s.delta_url, ca_source_key(s.issuer)) for s in settings.crl_sources],
        crl_fetch=with_local_files(nca.fetch_crl),
        crl_dir=resolve_path(settings.cache_dir),
        crl_refresh=timedelta(seconds=settings.crl_refresh_s),
        allow_sha1=settings.allow_sha1,
    )
