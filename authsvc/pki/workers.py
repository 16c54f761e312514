"""Verification work for the service's process pool (DESIGN.md §4: GOST arithmetic and ASN.1 parsing never
run on the event loop). Each worker keeps one path validator per trust bundle, with a short memo of
successful chains; results travel back light (chains as DER, not parsed objects).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import x509

from authsvc.pki.certinfo import CertInfo, cert_info, load_certificate
from authsvc.pki.cms import CmsResult, verify_cms
from authsvc.pki.path import PathResult, PathValidator
from authsvc.pki.trust import TrustBundle
from authsvc.pki.tsp import make_timestamp_hook, path_chain_hook
from authsvc.pki.xmldsig import XmlResult, verify_xml

__all__ = ["CachingPathValidator", "Chains", "attach", "certificate_job", "cms_job", "validator_for", "xml_job"]

T = TypeVar("T")
_VALIDATORS: dict[tuple[str, bool], PathValidator] = {}
PATH_CACHE_S = 60.0
PATH_CACHE_SIZE = 4096


def _complete(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a worker. Not asyncio.run: in a process's main thread its SIGINT
    hook formats the task together with its result, ~1 ms per job for a CMS result."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


class CachingPathValidator(PathValidator):
    """Remembers successful path validations per (certificate, supplied certificates, key usage) for
    ``PATH_CACHE_S``: a client signs many times with one certificate, and the chain's verdict changes only
    with time. A hit must be that recent and ``at`` inside every chain certificate's validity; failures are
    never cached, revocation is never cached here (it is asked per signature, under its own policy)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo: OrderedDict[tuple[bytes, tuple[bytes, ...], frozenset[str]], tuple[float, PathResult]] = (
            OrderedDict()
        )

    async def validate(
        self,
        certificate: bytes | str | x509.Certificate,
        *,
        at: datetime,
        other_certs: Iterable[x509.Certificate] = (),
        required_key_usage: Iterable[str] = ("digital_signature",),
    ) -> PathResult:
        others = [c for c in other_certs if isinstance(c, x509.Certificate)]
        usage = frozenset(required_key_usage)
        if not isinstance(certificate, x509.Certificate):
            return await super().validate(certificate, at=at, other_certs=others, required_key_usage=usage)
        key = (certificate.sha256, tuple(c.sha256 for c in others), usage)
        found = self._memo.get(key)
        now = time.monotonic()
        if found is not None and now - found[0] < PATH_CACHE_S:
            cached = found[1]
            if (
                all(c.not_before <= at <= c.not_after for c in cached.chain)
                and abs((at - cached.validated_at).total_seconds()) < PATH_CACHE_S
            ):
                return cached.model_copy(update={"validated_at": at})
        result = await super().validate(certificate, at=at, other_certs=others, required_key_usage=usage)
        if result.ok:  # keep a copy: callers may rebind the returned result's fields
            self._memo[key] = (now, result.model_copy())
            self._memo.move_to_end(key)
            while len(self._memo) > PATH_CACHE_SIZE:
                self._memo.popitem(last=False)
        return result


def validator_for(bundle: TrustBundle, allow_sha1: bool) -> PathValidator:
    """One PathValidator per trust bundle per process: anchors are parsed once, not per request."""
    key = (bundle.key, allow_sha1)
    found = _VALIDATORS.get(key)
    if found is None:
        if len(_VALIDATORS) > 8:
            _VALIDATORS.clear()
        found = CachingPathValidator(bundle.anchors, bundle.intermediates, allow_sha1=allow_sha1)
        _VALIDATORS[key] = found
    return found


Chains = list[list[bytes]]


def _detach(paths: Sequence[PathResult | None]) -> Chains:
    """Send validated chains back as DER: pickling parsed asn1crypto objects costs more than re-loading them."""
    out: Chains = []
    for path in paths:
        out.append([bytes(c.dump()) for c in path.certificates] if path is not None else [])
        if path is not None:
            path.certificates = []
    return out


def attach(paths: Sequence[PathResult | None], chains: Chains) -> None:
    for path, ders in zip(paths, chains, strict=True):
        if path is not None:
            path.certificates = [x509.Certificate.load(d) for d in ders]


def cms_job(
    bundle: TrustBundle, allow_sha1: bool, data: bytes, content: bytes | None, at: datetime | None, ku: Sequence[str]
) -> tuple[CmsResult, Chains]:
    validator = validator_for(bundle, allow_sha1)
    hook = make_timestamp_hook(path_chain_hook(validator))  # TSA chain at genTime, imprint over the signature
    result = _complete(
        verify_cms(data, validator=validator, content=content, at=at, required_key_usage=ku, timestamp_hook=hook)
    )
    return result, _detach([s.path for s in result.signers])


def xml_job(
    bundle: TrustBundle, allow_sha1: bool, document: bytes, at: datetime | None, ku: Sequence[str]
) -> tuple[XmlResult, Chains]:
    validator = validator_for(bundle, allow_sha1)
    result = _complete(verify_xml(document, validator=validator, at=at, required_key_usage=ku))
    return result, _detach([s.path for s in result.signatures])


def certificate_job(
    bundle: TrustBundle, allow_sha1: bool, der: bytes, at: datetime, ku: Sequence[str]
) -> tuple[CertInfo, PathResult, Chains]:
    cert = load_certificate(der)
    info = cert_info(cert)
    path = _complete(validator_for(bundle, allow_sha1).validate(cert, at=at, required_key_usage=ku))
    return info, path, _detach([path])
