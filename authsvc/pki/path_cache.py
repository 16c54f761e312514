"""Remembered certificate paths: a client signs many times with one certificate, and building and
validating its path through pyhanko-certvalidator costs milliseconds each time, while the verdict for one
chain under one trust configuration changes only with the moment it is judged at.

What is remembered, and when it may answer:

- only *successful* validations; a failure is recomputed every time (it carries the exact reason and
  detail, and an attacker can make unlimited distinct failures anyway);
- keyed by the SHA-256 of the certificate, of every certificate supplied beside it (the CMS's
  ``certificates``: they can change which path is built) and by the required key usage;
- one cache per :class:`CachingPathValidator`, and there is one validator per trust bundle content and
  ``allow_sha1`` (`authsvc.pki.workers.validator_for`): a trust-store change never meets an old entry;
- a hit only when the moment lies inside *every* path certificate's validity (the intersection of the
  periods, anchor included). pyhanko-certvalidator's verdict on a fixed path depends on the moment only
  through those periods (revocation is off here, the algorithm policy ignores the moment), and it
  allows a one-second tolerance the window does not: near an edge the cache misses and the uncached
  code decides;
- never with an AIA fetcher: fetched issuers can change behind the key.

Revocation is not part of a path's verdict here: it is asked per signature, at its moment, by the
revocation layer (`authsvc.pki.revocation`), against its own OCSP and CRL caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from asn1crypto import x509

from authsvc.pki.lru import Lru
from authsvc.pki.path import PathResult, PathValidator

__all__ = ["PATH_CACHE_SIZE", "CacheOnlyValidator", "CachingPathValidator", "PathCache", "PathCacheMiss", "path_key"]

PATH_CACHE_SIZE: Final = 4096

PathKey = bytes


def path_key(certificate: x509.Certificate, others: Iterable[x509.Certificate], usage: Iterable[str]) -> PathKey:
    """One digest over the certificate, the supplied certificates (in order) and the key usage."""
    digest = hashlib.sha256(certificate.sha256)
    for other in others:
        digest.update(other.sha256)
    digest.update(b"|" + ",".join(sorted(set(usage))).encode())
    return digest.digest()


class _Entry:
    """A successful path and the window in which its verdict holds."""

    __slots__ = ("certificates", "chain", "not_after", "not_before")

    def __init__(self, result: PathResult) -> None:
        self.chain = tuple(result.chain)
        self.certificates = tuple(result.certificates)
        self.not_before = max(c.not_before for c in result.chain)
        self.not_after = min(c.not_after for c in result.chain)


class PathCache:
    """Successful path validations by :func:`path_key`, each valid only inside its validity window."""

    def __init__(self, size: int = PATH_CACHE_SIZE) -> None:
        self._entries: Lru[PathKey, _Entry] = Lru(size)

    def get(self, key: PathKey, at: datetime) -> PathResult | None:
        """A fresh result judged at ``at`` (callers may rebind its fields), or None."""
        if at.tzinfo is None:  # certificate times are aware: let the uncached code answer naive moments
            return None
        entry = self._entries.get(key)
        if entry is None or not entry.not_before <= at <= entry.not_after:
            return None
        return PathResult.model_construct(
            ok=True,
            reasons=[],
            detail="",
            validated_at=at,
            chain=list(entry.chain),
            certificates=list(entry.certificates),
        )

    def put(self, key: PathKey, result: PathResult) -> None:
        """Remember ``result`` if it is a success whose chain and certificates are known."""
        if (
            result.ok
            and not result.reasons
            and result.chain
            and len(result.chain) == len(result.certificates)
            and all(isinstance(c, x509.Certificate) for c in result.certificates)
        ):
            self._entries.put(key, _Entry(result))

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class PathCacheMiss(Exception):
    """Raised by :class:`CacheOnlyValidator` when no remembered path answers: the pool must decide."""


class CachingPathValidator(PathValidator):
    """A :class:`PathValidator` that answers repeated successful validations from a :class:`PathCache`."""

    def __init__(self, *args: Any, cache_size: int = PATH_CACHE_SIZE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache = PathCache(cache_size)

    def _key(
        self, certificate: bytes | str | x509.Certificate, others: list[x509.Certificate], usage: Iterable[str]
    ) -> PathKey | None:
        if not isinstance(certificate, x509.Certificate) or self._fetch is not None:
            return None
        return path_key(certificate, others, usage)

    def cached(
        self,
        certificate: bytes | str | x509.Certificate,
        *,
        at: datetime,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> PathResult | None:
        """The remembered answer for these arguments, without ever building a path."""
        key = self._key(certificate, [c for c in other_certs if isinstance(c, x509.Certificate)], required_key_usage)
        return self.cache.get(key, at) if key is not None else None

    def remember(
        self,
        certificate: x509.Certificate,
        result: PathResult,
        *,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> None:
        """Keep a result computed elsewhere (a pool worker) for the same arguments and trust."""
        key = self._key(certificate, [c for c in other_certs if isinstance(c, x509.Certificate)], required_key_usage)
        if key is not None:
            self.cache.put(key, result)

    async def validate(
        self,
        certificate: bytes | str | x509.Certificate,
        *,
        at: datetime,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> PathResult:
        others = [c for c in other_certs if isinstance(c, x509.Certificate)]
        usage = tuple(required_key_usage)
        key = self._key(certificate, others, usage)
        if key is not None:
            found = self.cache.get(key, at)
            if found is not None:
                return found
        result = await super().validate(certificate, at=at, other_certs=others, required_key_usage=usage)
        if key is not None:
            self.cache.put(key, result)
        return result


class CacheOnlyValidator:
    """Answers only from a :class:`CachingPathValidator`'s cache; raises :class:`PathCacheMiss` otherwise.

    For verification on the event loop: building a path is milliseconds of work (GOST: far more) that
    belongs in the pool."""

    def __init__(self, source: CachingPathValidator) -> None:
        self._source = source

    async def validate(
        self,
        certificate: bytes | str | x509.Certificate,
        *,
        at: datetime,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> PathResult:
        found = self._source.cached(certificate, at=at, other_certs=other_certs, required_key_usage=required_key_usage)
        if found is None:
            raise PathCacheMiss
        return found
