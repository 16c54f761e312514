"""Trust anchors and CA certificates from configuration (R-7.1; KZ-PKI.md §3: pin roots by certificate).

Sources are files (PEM with one or more certificates, or DER) and URLs. Files are read at start-up and a
missing or unreadable one is a configuration error. URLs exist for the NCA test-PKI simulator, whose CA
keys are generated on its first start: the service fetches its /cert/ files in the background, retrying
until it answers, and reports not-ready on /readyz until then. Real NCA roots are configured by file only
(a root fetched over plain HTTP would trust whoever answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import pem, x509

from authsvc.errors import AuthsvcError, ConfigError
from authsvc.pki.certinfo import CertificateParseError, load_certificate
from authsvc.pki.der import ASN1_ERRORS, BadEncoding

__all__ = ["TrustBundle", "TrustStore", "read_certificates"]

log = logging.getLogger(__name__)
Fetch = Callable[[str], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class TrustBundle:
    """What path validation needs, as DER (cheap to send to a worker process); ``key`` names the content."""

    anchors: tuple[bytes, ...]
    intermediates: tuple[bytes, ...]
    # Computed once: every verification looks its validator (and so its path cache) up by this key.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256()
        for der in (*self.anchors, b"|", *self.intermediates):
            digest.update(hashlib.sha256(der).digest())
        object.__setattr__(self, "key", digest.hexdigest())


def read_certificates(data: bytes, what: str) -> list[bytes]:
    """Every certificate in a PEM bundle, or the one DER certificate; raises BadEncoding/CertificateParseError."""
    if pem.detect(data):
        found = [der for kind, _headers, der in pem.unarmor(data, multiple=True) if kind == "CERTIFICATE"]
        if not found:
            raise BadEncoding(f"{what} holds no PEM certificate")
    else:
        found = [data]
    out = []
    for der in found:
        cert = load_certificate(der)
        out.append(bytes(cert.dump()))
    return out


class TrustStore:
    """Anchors and intermediates by configured source (file path or URL); ``ready`` once all are loaded."""

    def __init__(
        self,
        *,
        anchor_files: Sequence[str] = (),
        anchor_urls: Sequence[str] = (),
        intermediate_files: Sequence[str] = (),
        intermediate_urls: Sequence[str] = (),
        fetch: Fetch | None = None,
        retry_s: float = 5.0,
    ) -> None:
        self._anchor_sources = [*anchor_files, *anchor_urls]
        self._intermediate_sources = [*intermediate_files, *intermediate_urls]
        self._files = {*anchor_files, *intermediate_files}
        self._fetch = fetch
        self._retry_s = retry_s
        self._loaded: dict[str, list[bytes]] = {}
        self._bundle: TrustBundle | None = None  # bundle()'s answer until a source (re)loads
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        if not self._anchor_sources:
            raise ConfigError("no trust anchors configured ([pki] anchor_files / anchor_urls)")
        if (set(self._anchor_sources) | set(self._intermediate_sources)) - self._files and fetch is None:
            raise ConfigError("trust anchors by URL need an HTTP client")

    # --- loading ------------------------------------------------------------------------------------
    def load_files(self) -> None:
        """Read every configured file now; a missing or unreadable file is a ConfigError."""
        for source in sorted(self._files):
            try:
                self._store(source, read_certificates(Path(source).expanduser().read_bytes(), source))
            except (BadEncoding, CertificateParseError) as exc:
                raise ConfigError(f"trust certificate file {source} cannot be read: {exc}") from exc
            except AuthsvcError:
                raise
            except (OSError, *ASN1_ERRORS) as exc:
                raise ConfigError(f"trust certificate file {source} cannot be read: {exc}") from exc
        self._check_ready()

    async def load_urls(self) -> bool:
        """Fetch the URL sources not yet loaded; True when everything is loaded."""
        for source in [*self._anchor_sources, *self._intermediate_sources]:
            if source in self._loaded or source in self._files:
                continue
            assert self._fetch is not None
            try:
                self._store(source, read_certificates(await self._fetch(source), source))
            except (AuthsvcError, OSError, TimeoutError, *ASN1_ERRORS) as exc:
                self.last_error = f"{source}: {getattr(exc, 'code', type(exc).__name__)}"
                log.warning("trust certificate not loaded yet", extra={"url": source, "error": self.last_error})
        return self._check_ready()

    def _store(self, source: str, certificates: list[bytes]) -> None:
        self._loaded[source] = certificates
        self._bundle = None  # a new bundle key: validators and their path caches start afresh

    def _check_ready(self) -> bool:
        if all(s in self._loaded for s in [*self._anchor_sources, *self._intermediate_sources]):
            if not self._event.is_set():
                self.last_error = None
                self._event.set()
                log.info("trust anchors loaded", extra={"anchors": len(self.bundle().anchors)})
            return True
        return False

    async def _keep_trying(self) -> None:
        while True:
            if await self.load_urls():
                return
            await asyncio.sleep(self._retry_s)

    def start(self) -> None:
        """Read the files (raises ConfigError) and fetch the URLs in the background until they answer."""
        self.load_files()
        if not self.ready:
            self._task = asyncio.create_task(self._keep_trying())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- reading ------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._event.is_set()

    def readiness(self) -> bool | str:
        """/readyz "trust": True, or which configured certificates are missing and the last fetch's error."""
        if self.ready:
            return True
        sources = [*self._anchor_sources, *self._intermediate_sources]
        missing = [s for s in sources if s not in self._loaded]
        why = f"{len(missing)} of {len(sources)} trust certificates not loaded yet (first: {missing[0] if missing else '-'})"
        return f"{why}; last error: {self.last_error}" if self.last_error else why

    async def wait_ready(self) -> None:
        await self._event.wait()

    def bundle(self) -> TrustBundle:
        """The loaded anchors and intermediates; rebuilt only when a source (re)loads (asked per request)."""
        if self._bundle is None:
            anchors = [der for s in self._anchor_sources for der in self._loaded.get(s, [])]
            inter = [der for s in self._intermediate_sources for der in self._loaded.get(s, [])]
            self._bundle = TrustBundle(tuple(dict.fromkeys(anchors)), tuple(dict.fromkeys(inter)))
        return self._bundle

    def certificate_of(self, source: str) -> x509.Certificate | None:
        """The (first) certificate loaded from a configured source, e.g. a CRL's issuer."""
        found = self._loaded.get(source)
        return x509.Certificate.load(found[0]) if found else None
