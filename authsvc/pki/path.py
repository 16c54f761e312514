"""Certificate path validation to pinned trust anchors, at a moment the caller chooses (R-7.1).

Unlike NCANode's one-hop issuer lookup, paths are built and validated by pyhanko-certvalidator
(RFC 5280), with two seams filled for Kazakh GOST: a signature validator that dispatches through
:func:`authsvc.pki.algorithms.verify_signature`, and an algorithm policy admitting the GOST OIDs.
Anchors are pinned by certificate (roots roll over; names repeat), never by name.

Revocation is deliberately *not* checked here: :attr:`PathResult.revocation_pairs` hands the
(certificate, issuer) pairs to the revocation layer, which knows NCA's OCSP/CRL quirks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Final, Literal, Protocol

from asn1crypto import algos, cms, keys, x509
from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field
from pyhanko_certvalidator import CertificateValidator
from pyhanko_certvalidator.context import ValidationContext
from pyhanko_certvalidator.errors import (
    AlgorithmNotSupported,
    DisallowedAlgorithmError,
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.policy_decl import (
    AlgorithmUsageConstraint,
    AlgorithmUsagePolicy,
    CertRevTrustPolicy,
    DisallowWeakAlgorithmsPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    SignatureValidationContext,
    SignatureValidator,
)

from authsvc.errors import AuthsvcError
from authsvc.pki import asn1_compat
from authsvc.pki.algorithms import UnsupportedAlgorithm, is_gost_oid, verify_signature
from authsvc.pki.certinfo import CertificateParseError, CertInfo, cert_info, load_certificate
from authsvc.pki.der import ASN1_ERRORS, BadEncoding, decode_binary
from authsvc.pki.lru import Lru

__all__ = [
    "AiaFetcher",
    "GostAwareSignatureValidator",
    "KzAlgorithmPolicy",
    "PathFailure",
    "PathResult",
    "PathSource",
    "PathValidator",
    "forget_chain_verdicts",
]

asn1_compat.install()
log = logging.getLogger(__name__)

PathFailure = Literal[
    "expired",
    "not_yet_valid",
    "untrusted_root",
    "no_path",
    "bad_signature",
    "key_usage",
    "disallowed_algorithm",
    "unsupported_algorithm",
    "revoked",
    "invalid_path",
    "bad_certificate",
]
# Fetches the body at a caIssuers URL (DER/PEM certificate or PKCS#7 certs-only); None if unavailable.
AiaFetcher = Callable[[str], Awaitable[bytes | None]]

_AIA_MAX_DEPTH: Final = 4
_NO_REVOCATION: Final = CertRevTrustPolicy(
    RevocationCheckingPolicy(
        ee_certificate_rule=RevocationCheckingRule.NO_CHECK,
        intermediate_ca_cert_rule=RevocationCheckingRule.NO_CHECK,
    )
)


def _verdict_key(
    signature: bytes,
    signed_data: bytes,
    public_key_info: keys.PublicKeyInfo,
    algorithm: algos.SignedDigestAlgorithm,
    digest: str | None,
) -> bytes:
    """SHA-256 over every input of the check, each length-prefixed: the exact bytes the verdict is of."""
    hasher = hashlib.sha256()
    for part in (public_key_info.dump(), algorithm.dump(), (digest or "").encode(), signed_data, signature):
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.digest()


# Certificate signatures that verified, by :func:`_verdict_key`. A chain's upper links (intermediate by
# root) are checked again for every first-seen signer below them and for every path the path cache
# cannot answer (another key usage, other supplied certificates, a moment outside its window): a GOST
# 512 check is ~0.6 ms in the engine and ~8 ms in Python. Only successes are kept: a failure is
# recomputed (and hostile input can make unlimited distinct ones); a verdict that raises is never kept.
CHAIN_VERDICT_CACHE_SIZE: Final = 4096
_CHAIN_VERDICTS: Lru[bytes, bool] = Lru(CHAIN_VERDICT_CACHE_SIZE)


def forget_chain_verdicts() -> None:
    """Empty the remembered certificate-signature verdicts of this process (tests: the uncached code)."""
    _CHAIN_VERDICTS.clear()


class GostAwareSignatureValidator(SignatureValidator):
    """pyhanko's signature seam, answered by :func:`verify_signature` (RSA, ECDSA, GOST), each verdict that
    verified remembered by the exact bytes it is of (`_CHAIN_VERDICTS`).

    Remembers an unsupported algorithm so the result can say so instead of "bad signature".
    """

    def __init__(self) -> None:
        self.unsupported: str | None = None

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        if context.prehashed:
            raise AlgorithmNotSupported("pre-hashed payloads are not supported")
        digest = context.contextual_md_algorithm
        key = _verdict_key(signature, signed_data, public_key_info, signature_algorithm, digest)
        if _CHAIN_VERDICTS.get(key):
            return
        try:
            ok = verify_signature(public_key_info, signature_algorithm, signed_data, signature, digest)
        except UnsupportedAlgorithm as exc:
            self.unsupported = exc.detail
            raise AlgorithmNotSupported(exc.detail) from exc
        if not ok:
            raise InvalidSignature
        _CHAIN_VERDICTS.put(key, True)


class KzAlgorithmPolicy(AlgorithmUsagePolicy):
    """Admit the Kazakh GOST algorithms; judge the rest as pyhanko's weak-algorithm policy does.

    SHA-1 is refused unless ``allow_sha1`` (old NCA RSA certificates used it); RSA keys need 2048 bits.
    """

    def __init__(self, *, allow_sha1: bool = False) -> None:
        weak = frozenset({"md2", "md5"} if allow_sha1 else {"md2", "md5", "sha1"})
        self._fallback = DisallowWeakAlgorithmsPolicy(  # type: ignore[no-untyped-call]
            weak_hash_algos=weak, rsa_key_size_threshold=2048
        )

    def digest_algorithm_allowed(
        self, algo: algos.DigestAlgorithm, moment: datetime | None
    ) -> AlgorithmUsageConstraint:
        if is_gost_oid(algo["algorithm"].dotted):
            return AlgorithmUsageConstraint(allowed=True)
        result: AlgorithmUsageConstraint = self._fallback.digest_algorithm_allowed(algo, moment)
        return result

    def signature_algorithm_allowed(
        self,
        algo: algos.SignedDigestAlgorithm,
        moment: datetime | None,
        public_key: keys.PublicKeyInfo | None,
    ) -> AlgorithmUsageConstraint:
        if is_gost_oid(algo["algorithm"].dotted):
            return AlgorithmUsageConstraint(allowed=True)
        if public_key is not None and is_gost_oid(public_key["algorithm"]["algorithm"].dotted):
            # A non-GOST signature under a GOST key is a forgery; asn1crypto cannot even size
            # the key (UnboundLocalError in PublicKeyInfo.bit_size), so refuse it here by name.
            return AlgorithmUsageConstraint(
                allowed=False,
                failure_reason=f"signature algorithm {algo['algorithm'].dotted} does not match the issuer's GOST key",
            )
        try:
            result: AlgorithmUsageConstraint = self._fallback.signature_algorithm_allowed(algo, moment, public_key)
        except AuthsvcError:
            raise
        except Exception as exc:  # e.g. a key asn1crypto cannot size: refuse, never crash
            return AlgorithmUsageConstraint(allowed=False, failure_reason=f"unjudgeable key or algorithm: {exc!r}")
        return result


class PathResult(BaseModel):
    """Outcome of one path validation; ``certificates`` (leaf first, anchor last) is not serialised."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    ok: bool
    reasons: list[PathFailure] = []
    detail: str = ""
    validated_at: datetime
    chain: list[CertInfo] = []
    certificates: list[x509.Certificate] = Field(default_factory=list, exclude=True)

    @property
    def revocation_pairs(self) -> list[tuple[x509.Certificate, x509.Certificate]]:
        """(certificate, issuer) for every non-anchor certificate on the path, leaf first."""
        return list(zip(self.certificates, self.certificates[1:], strict=False))


class PathSource(Protocol):
    """What signature verification needs from path validation: :class:`PathValidator`, or a cache of it
    (`authsvc.pki.path_cache`)."""

    async def validate(
        self,
        certificate: bytes | str | x509.Certificate,
        *,
        at: datetime,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> PathResult: ...


def _certs_from_blob(blob: bytes) -> list[x509.Certificate]:
    """Certificates from an AIA body: DER/PEM certificate or a PKCS#7 certs-only bundle."""
    try:
        der = decode_binary(blob, what="caIssuers response")
        info = cms.ContentInfo.load(der)
        if info["content_type"].native == "signed_data":
            return [c.chosen for c in info["content"]["certificates"] if c.name == "certificate"]
    except BadEncoding:
        pass
    except AuthsvcError:
        raise
    except ASN1_ERRORS:
        pass
    try:
        return [load_certificate(blob)]
    except (BadEncoding, CertificateParseError):
        return []


def _is_self_issued(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.subject == cert.issuer)
    except ASN1_ERRORS:
        return False


class PathValidator:
    """Validates certificates against pinned anchors plus known (and optionally fetched) intermediates."""

    def __init__(
        self,
        trust_anchors: Iterable[bytes | str | x509.Certificate],
        intermediates: Iterable[bytes | str | x509.Certificate] = (),
        *,
        aia_fetcher: AiaFetcher | None = None,
        allow_sha1: bool = False,
    ) -> None:
        self._anchors = [load_certificate(c) for c in trust_anchors]
        self._intermediates = [load_certificate(c) for c in intermediates]
        self._fetch = aia_fetcher
        self._policy = KzAlgorithmPolicy(allow_sha1=allow_sha1)

    @property
    def anchors(self) -> list[x509.Certificate]:
        return list(self._anchors)

    def _known(self, extra: Sequence[x509.Certificate]) -> list[x509.Certificate]:
        return [*self._anchors, *self._intermediates, *extra]

    async def _fetch_missing(self, cert: x509.Certificate, known: list[x509.Certificate]) -> list[x509.Certificate]:
        """Follow caIssuers URLs upward while an issuer is missing (only with an injected fetcher)."""
        if self._fetch is None:
            return []
        fetched: list[x509.Certificate] = []
        current = cert
        for _ in range(_AIA_MAX_DEPTH):
            if _is_self_issued(current) or any(k.subject == current.issuer for k in [*known, *fetched]):
                break
            try:
                urls = cert_info(current).ca_issuer_urls
            except CertificateParseError:
                break
            found: list[x509.Certificate] = []
            for url in urls:
                try:
                    body = await self._fetch(url)
                except (AuthsvcError, OSError):
                    body = None  # an unreachable AIA URL is a missing issuer, not a crash
                found = [c for c in _certs_from_blob(body or b"") if c.subject == current.issuer]
                if found:
                    break
            if not found:
                break
            fetched.extend(found)
            current = found[0]
        return fetched

    async def validate(
        self,
        certificate: bytes | str | x509.Certificate,
        *,
        at: datetime,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> PathResult:
        """Validate ``certificate`` at ``at`` (time-stamp genTime, now, or a pinned test time).

        ``required_key_usage`` names keyUsage bits that must all be set on the leaf, e.g.
        ``("non_repudiation",)`` for contract signing (R-10.1) or ``("digital_signature",)`` to log in.
        Never raises for bad certificates: failures come back as named ``reasons``; an exception from the
        validation library itself (hostile input has crashed it) is ``invalid_path`` with its message.
        """
        try:
            leaf = load_certificate(certificate)
        except (BadEncoding, CertificateParseError) as exc:
            return PathResult(ok=False, reasons=["bad_certificate"], detail=exc.detail, validated_at=at)
        extra = [c for c in other_certs if isinstance(c, x509.Certificate)]
        known = self._known(extra)
        signatures = GostAwareSignatureValidator()
        try:
            extra = [*extra, *await self._fetch_missing(leaf, known)]
            context = ValidationContext(
                trust_roots=list(self._anchors),
                other_certs=[*self._intermediates, *extra],
                moment=at,
                allow_fetching=False,
                revinfo_policy=_NO_REVOCATION,
                algorithm_usage_policy=self._policy,
                signature_validator=signatures,
            )
            validator = CertificateValidator(leaf, validation_context=context)
            path = await validator.async_validate_usage(  # type: ignore[no-untyped-call]
                set(required_key_usage)
            )
        except ExpiredError as exc:
            return self._failed("expired", exc, leaf, at)
        except NotYetValidError as exc:
            return self._failed("not_yet_valid", exc, leaf, at)
        except DisallowedAlgorithmError as exc:
            return self._failed("disallowed_algorithm", exc, leaf, at)
        except RevokedError as exc:
            return self._failed("revoked", exc, leaf, at)
        except PathBuildingError as exc:
            reason: PathFailure = "untrusted_root" if self._reaches_foreign_root(leaf, known) else "no_path"
            return self._failed(reason, exc, leaf, at)
        except PathValidationError as exc:
            message = str(exc).lower()
            reason = "bad_signature" if "signature" in message else "invalid_path"
            if signatures.unsupported is not None:
                reason = "unsupported_algorithm"
            return self._failed(reason, exc, leaf, at)
        except InvalidCertificateError as exc:
            # pyhanko refuses a self-signed leaf here too: that is a trust fault, not a key-usage one.
            foreign = _is_self_issued(leaf) and leaf.sha256 not in {a.sha256 for a in self._anchors}
            return self._failed("untrusted_root" if foreign else "key_usage", exc, leaf, at)
        except AuthsvcError:
            raise
        except (*ASN1_ERRORS, UnsupportedAlgorithm) as exc:
            return self._failed("bad_certificate", exc, leaf, at)
        except Exception as exc:  # the library's own bugs on hostile input
            log.warning("path validation raised %s; answered invalid_path", type(exc).__name__)
            return self._failed("invalid_path", exc, leaf, at)
        certs = list(reversed(list(path)))
        try:
            chain = [cert_info(c) for c in certs]
        except CertificateParseError as exc:
            return self._failed("bad_certificate", exc, leaf, at)
        return PathResult(ok=True, validated_at=at, chain=chain, certificates=certs)

    def validate_sync(
        self,
        certificate: bytes | str | x509.Certificate,
        *,
        at: datetime,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> PathResult:
        """:meth:`validate` for worker processes and CLI code (no event loop may be running)."""
        return asyncio.run(
            self.validate(certificate, at=at, other_certs=other_certs, required_key_usage=required_key_usage)
        )

    def _reaches_foreign_root(self, leaf: x509.Certificate, known: list[x509.Certificate]) -> bool:
        """True when the leaf chains by name to a self-signed certificate that is not pinned."""
        current = leaf
        for _ in range(_AIA_MAX_DEPTH + 2):
            if _is_self_issued(current):
                return current.sha256 not in {a.sha256 for a in self._anchors}
            parents = [k for k in known if k.subject == current.issuer and k is not current]
            if not parents:
                return False
            current = parents[0]
        return False

    @staticmethod
    def _failed(reason: PathFailure, exc: Exception, leaf: x509.Certificate, at: datetime) -> PathResult:
        try:
            chain = [cert_info(leaf)]
        except CertificateParseError:
            chain = []
        except AuthsvcError:
            raise
        except ASN1_ERRORS:
            chain = []
        return PathResult(
            ok=False, reasons=[reason], detail=str(exc), validated_at=at, chain=chain, certificates=[leaf]
        )
