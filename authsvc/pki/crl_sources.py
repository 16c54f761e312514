"""Where CRLs come from and whether they can be used (R-7.1).

A CRL source is an http(s) URL (fetched by the NCA client) or a local ``file:`` path (an operator who
mirrors NCA's CRLs, or an air-gapped deployment). Misconfiguration fails the start (`authsvc.config`
refuses an issuer that names no configured CA); what goes wrong later is reported, never silent:
`/readyz` says not ready, naming the CA, while a configured CA has no usable CRL, and `/metrics` carries
each CRL's age and state (``authsvc_crl_age_seconds``, ``authsvc_crl_usable``, labelled by issuer).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from authsvc import error_codes
from authsvc.config import resolve_path
from authsvc.pki.crl import CrlError
from authsvc.pki.crl_cache import CacheState, CrlCache

__all__ = ["CrlLabel", "CrlMetrics", "local_crl_path", "revocation_readiness", "with_local_files"]

Fetch = Callable[[str], Awaitable[bytes]]
FILE_SCHEME = "file:"
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----(.+?)-----END X509 CRL-----", re.S)


def local_crl_path(url: str) -> Path | None:
    """The file a ``file:`` source names (``file:/abs``, ``file:///abs`` or ``file:relative``), else None."""
    if not url.startswith(FILE_SCHEME):
        return None
    rest = url[len(FILE_SCHEME) :]
    if rest.startswith("//"):
        rest = rest[2:]
    return resolve_path(rest)


def _read_crl_file(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:1] == b"\x30":
        return data
    pem = _PEM_CRL.search(data)
    if pem is None:
        raise CrlError(f"{path} is neither a DER nor a PEM CRL", code=error_codes.CRL_MALFORMED)
    try:
        return base64.b64decode(b"".join(pem.group(1).split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CrlError(f"{path}: bad PEM body", code=error_codes.CRL_MALFORMED) from exc


def with_local_files(fetch: Fetch) -> Fetch:
    """``fetch`` for URLs, a thread's file read for ``file:`` sources (the cache validates both alike)."""

    async def fetch_any(url: str) -> bytes:
        path = local_crl_path(url)
        if path is None:
            return await fetch(url)
        return await asyncio.to_thread(_read_crl_file, path)

    return fetch_any


@dataclass(frozen=True, slots=True)
class CrlLabel:
    """Who a cached CRL URL speaks for: its issuer's name and whether it is a delta CRL."""

    issuer: str
    delta: bool
    issuer_key: str = ""  # SHA-256 of the issuer certificate (as `CrlSource.issuer_key`)


def revocation_readiness(
    configured: bool,
    cache: CrlCache | None,
    labels: dict[str, CrlLabel],
    problems: list[str],
    uncovered: list[str],
    *,
    ocsp_answers: Callable[[str], bool] | None = None,
) -> bool | str:
    """True when every configured CA has a usable revocation source; otherwise the reasons.

    A CA's source is usable when its complete CRL is validated and fresh, or — when OCSP is in the order
    (``ocsp_answers`` given) — when its last OCSP exchange answered (or none was tried yet): a stale CRL
    under a working OCSP responder is a metric (``authsvc_crl_usable`` 0), not an outage of every instance.
    ``configured``: CRL sources are configured; ``problems`` are faults found while opening the cache (a CRL
    issuer certificate not loaded); ``uncovered`` names CAs no revocation source can answer for (e.g. no CRL
    under ``crl_only``)."""
    reasons = [*problems, *(f"{ca}: no revocation source configured" for ca in uncovered)]
    if configured and cache is None:
        reasons.append("the CRL cache has not started (waiting for the trust anchors)")
    if cache is not None:
        for status in cache.status():
            label = labels.get(status.url)
            if label is None or label.delta or status.state == CacheState.FRESH:
                continue
            if ocsp_answers is not None and ocsp_answers(label.issuer_key):
                continue
            why = status.last_error or ("never downloaded" if status.last_attempt is None else status.state.value)
            ocsp = "; its OCSP responder failed too" if ocsp_answers is not None else ""
            reasons.append(f"{label.issuer}: no usable CRL from {status.url} ({status.state.value}: {why}){ocsp}")
    return "; ".join(reasons) if reasons else True


class CrlMetrics(Collector):
    """Prometheus gauges read from the CRL cache at scrape time."""

    def __init__(self, cache: Callable[[], CrlCache | None], labels: dict[str, CrlLabel]) -> None:
        self._cache = cache
        self._labels = labels

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            "authsvc_crl_age_seconds", "Seconds since the cached CRL's thisUpdate", labels=["issuer", "crl"]
        )
        usable = GaugeMetricFamily(
            "authsvc_crl_usable", "1 when the cached CRL is validated and fresh, else 0", labels=["issuer", "crl"]
        )
        cache = self._cache()
        states = {s.url: s for s in cache.status()} if cache is not None else {}
        for url, label in self._labels.items():
            kind = ["delta" if label.delta else "full"]
            status = states.get(url)
            usable.add_metric([label.issuer, *kind], 1.0 if status and status.state == CacheState.FRESH else 0.0)
            if status is not None and status.age_seconds is not None:
                age.add_metric([label.issuer, *kind], status.age_seconds)
        yield age
        yield usable
