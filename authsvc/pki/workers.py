"""Verification work for the service's process pool (DESIGN.md §4: GOST arithmetic and path building never
run on the event loop; `authsvc.pki.inline` takes the cheap RSA/ECDSA cases with a remembered path). Each
process keeps one path validator per trust bundle, with its cache of successful paths
(`authsvc.pki.path_cache`); results travel back light (chains as DER, not parsed objects).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import x509

from authsvc.pki.certinfo import CertInfo, cert_info, load_certificate
from authsvc.pki.cms import CmsResult, verify_cms
from authsvc.pki.path import PathResult
from authsvc.pki.path_cache import CachingPathValidator
from authsvc.pki.trust import TrustBundle
from authsvc.pki.tsp import make_timestamp_hook, path_chain_hook
from authsvc.pki.xmldsig import XmlResult, verify_xml

__all__ = ["Chains", "attach", "certificate_job", "cms_job", "validator_for", "xml_job"]

T = TypeVar("T")
_VALIDATORS: dict[tuple[str, bool], CachingPathValidator] = {}


def _complete(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a worker. Not asyncio.run: in a process's main thread its SIGINT
    hook formats the task together with its result, ~1 ms per job for a CMS result."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def validator_for(bundle: TrustBundle, allow_sha1: bool) -> CachingPathValidator:
    """One validator per trust bundle per process: anchors are parsed once, not per request, and its path
    cache (`authsvc.pki.path_cache`) can never answer for another trust configuration."""
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
