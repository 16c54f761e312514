"""Background CRL downloader and on-disk cache (R-7.1; KZ-PKI.md §3: NCA's CRL URLs 404, return empty
files and "Try again" pages).

Rules: a download replaces the cached CRL only after it parses, is signed by the configured issuer, is
fresh and its CRL number (and thisUpdate) did not go backwards; any fault keeps the good data and is
reported in :meth:`CrlCache.status`, never raised into a request. Parsing, signature checking and
indexing run in the supplied executor (the service passes its process pool); requests only read the
in-memory indexes, which are also saved to disk so a restart serves them at once.

The processes of one host share the folder, and one of them downloads for all: a refresh takes the URL's
lock file (a POSIX ``lockf``), and when another cache instance fetched that URL less than a refresh interval ago (its
stamp file says who and when) this one loads the index file it installed instead of downloading and parsing
the CRL again. Files are installed by atomic rename, so a reader never sees half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

from asn1crypto import x509

from authsvc import error_codes
from authsvc.errors import AuthsvcError
from authsvc.pki.crl import CrlError, CrlInfo, check_crl_fresh, index_crl_file
from authsvc.pki.crl_archive import REMOVE_FROM_CRL, archive
from authsvc.pki.crl_index import CrlIndex, IndexFileError, RevokedEntry, certificate_der

__all__ = ["CacheState", "CrlCache", "CrlLookup", "CrlSource", "SourceStatus"]

log = logging.getLogger(__name__)
Fetch = Callable[[str], Awaitable[bytes]]
Clock = Callable[[], datetime]
_REMOVE_FROM_CRL = REMOVE_FROM_CRL


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CrlSource:
    """One CRL to keep: its URL, the DER of the CA certificate that signs it, and its delta CRL's URL."""

    url: str
    issuer_der: bytes
    delta_url: str | None = None

    @property
    def issuer_key(self) -> str:
        return hashlib.sha256(self.issuer_der).hexdigest()


class CacheState(StrEnum):
    EMPTY = "empty"  # nothing usable yet
    FRESH = "fresh"  # a validated CRL whose nextUpdate has not passed
    STALE = "stale"  # the last good CRL has expired and no newer one could be fetched


@dataclass(slots=True)
class _Slot:
    """The cached state of one URL (a complete or a delta CRL)."""

    url: str
    stem: str
    delta: bool
    index: CrlIndex | None = None
    info: CrlInfo | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    failures: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    url: str
    state: CacheState
    crl_number: int | None
    this_update: datetime | None
    next_update: datetime | None
    entries: int
    age_seconds: float | None  # since the CRL's thisUpdate
    last_success: datetime | None
    last_attempt: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class CrlLookup:
    """A CRL answer for one serial, with the evidence (CRL numbers and SHA-256 of the CRL bytes)."""

    revoked: bool
    entry: RevokedEntry | None
    crl_number: int | None
    crl_sha256: str
    this_update: datetime
    next_update: datetime | None
    delta_crl_number: int | None = None
    delta_sha256: str | None = None
    info: CrlInfo | None = None  # the complete CRL's facts (e.g. whether it still lists expired certificates)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _validate_and_store(
    download: str, issuer_der: bytes, now: datetime, min_number: int | None, delta: bool, index_path: str
) -> dict[str, Any]:
    """Worker-process side: validate the downloaded file and write its index; returns the metadata."""
    index, _ = index_crl_file(Path(download), issuer_der, now, min_crl_number=min_number, delta=delta)
    index.save(Path(index_path))
    return index.meta


class CrlCache:
    """Keeps validated CRL indexes for the configured sources fresh, in the background."""

    def __init__(
        self,
        directory: Path,
        sources: Sequence[CrlSource],
        fetch: Fetch,
        *,
        executor: Executor | None = None,
        clock: Clock = _utcnow,
        refresh_interval: timedelta = timedelta(hours=1),
        retry_interval: timedelta = timedelta(minutes=1),
        skew: timedelta = timedelta(minutes=5),
    ) -> None:
        self._dir = directory
        self._fetch = fetch
        self._executor = executor
        self._clock = clock
        self._refresh = refresh_interval
        self._retry = retry_interval
        self._skew = skew
        self._sources = {source.issuer_key: source for source in sources}
        self._slots: dict[str, _Slot] = {}
        for source in sources:
            for url, delta in ((source.url, False), (source.delta_url, True)):
                if url is not None:
                    stem = hashlib.sha256(f"{source.issuer_key}|{url}".encode()).hexdigest()[:24]
                    self._slots[url] = _Slot(url, stem, delta)
        self._tasks: list[asyncio.Task[None]] = []
        self._me = secrets.token_hex(8)  # whose fetch a stamp file records (`_fetched_by_another`)
        self.downloads = 0  # CRL downloads this instance made (the others' adopted instead)

    # --- life cycle ---------------------------------------------------------------------------------
    async def load(self) -> None:
        """Load indexes saved by an earlier run; unreadable ones are dropped (the next refresh rebuilds)."""
        self._dir.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        for slot in self._slots.values():
            path = self._dir / f"{slot.stem}.idx"
            if not path.exists():
                continue
            try:
                index = await loop.run_in_executor(None, CrlIndex.load, path)
                slot.info = CrlInfo.from_meta(index.meta)
            except AuthsvcError:
                raise
            except (IndexFileError, KeyError, ValueError, TypeError) as exc:
                log.warning("discarding saved CRL index", extra={"url": slot.url, "error": str(exc)})
                continue
            slot.index = index

    async def start(self) -> None:
        """Load saved state and start one refresher task per URL (call from a cleanup_ctx)."""
        await self.load()
        for source in self._sources.values():
            for url in (source.url, source.delta_url):
                if url is not None:
                    self._tasks.append(asyncio.create_task(self._run(source, self._slots[url])))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _run(self, source: CrlSource, slot: _Slot) -> None:
        while True:
            try:
                ok = await self.refresh_url(source, slot.url)
            except Exception:  # a bug must not stop the refresher: log it and retry later
                log.exception("CRL refresher crashed", extra={"url": slot.url})
                slot.failures += 1
                ok = False
            base = self._refresh if ok else min(self._retry * 2 ** min(slot.failures - 1, 10), self._refresh)
            await asyncio.sleep(base.total_seconds() * random.uniform(0.9, 1.1))

    # --- refreshing ---------------------------------------------------------------------------------
    async def refresh(self) -> dict[str, bool]:
        """Refresh every URL once (start-up and tests); returns {url: replaced-or-confirmed}."""
        results: dict[str, bool] = {}
        for source in self._sources.values():
            for url in (source.url, source.delta_url):
                if url is not None:
                    results[url] = await self.refresh_url(source, url)
        return results

    async def refresh_url(self, source: CrlSource, url: str) -> bool:
        """Download and, if it validates, install one CRL — or take the one another process of this host
        installed within the refresh interval. Never raises for network or data faults."""
        slot = self._slots[url]
        async with slot.lock, self._host_lock(slot):
            slot.last_attempt = self._clock()
            try:
                if not await self._adopted(slot):
                    await self._download_and_install(source, slot)
                    self._stamp(slot)
            except (AuthsvcError, OSError, TimeoutError, ValueError) as exc:
                slot.failures += 1
                slot.last_error = getattr(exc, "code", type(exc).__name__) + f": {exc}"
                log.warning("CRL refresh failed; keeping cached data", extra={"url": url, "error": slot.last_error})
                return False
            slot.failures = 0
            slot.last_error = None
            slot.last_success = slot.last_attempt
            return True

    @contextlib.asynccontextmanager
    async def _host_lock(self, slot: _Slot) -> AsyncIterator[None]:
        """The URL's lock among the processes sharing the folder (held while one downloads and installs).
        A POSIX record lock: a process forked meanwhile (a pool worker) does not inherit it, as it would a flock."""
        self._dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._dir / f"{slot.stem}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        locking = asyncio.get_running_loop().run_in_executor(None, fcntl.lockf, fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(locking)
            yield
        finally:
            # Closing releases the lock; a refresh cancelled while waiting closes once the wait returns (the
            # descriptor must not be reused under the waiting thread).
            if locking.done():
                os.close(fd)
            else:
                locking.add_done_callback(lambda _done: os.close(fd))

    def _stamp(self, slot: _Slot) -> None:
        """Record that this instance fetched the URL now (written whole, then renamed into place)."""
        path = self._dir / f"{slot.stem}.fetched"
        pending = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        pending.write_text(json.dumps({"by": self._me, "at": (slot.last_attempt or self._clock()).isoformat()}))
        os.replace(pending, path)

    async def _adopted(self, slot: _Slot) -> bool:
        """Whether another process fetched this URL within the refresh interval; its index (if newer than
        the one held) is then loaded instead of a download."""
        try:
            stamp = json.loads((self._dir / f"{slot.stem}.fetched").read_text())
            by, at = str(stamp["by"]), datetime.fromisoformat(stamp["at"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        now = slot.last_attempt or self._clock()
        if by == self._me or not timedelta(0) <= now - at < self._refresh:
            return False
        path = self._dir / f"{slot.stem}.idx"
        try:
            index = await asyncio.get_running_loop().run_in_executor(None, CrlIndex.load, path)
            info = CrlInfo.from_meta(index.meta)
        except AuthsvcError:
            return False  # e.g. written by another version: fetch it ourselves
        except (OSError, IndexFileError, KeyError, ValueError, TypeError):
            return False  # not readable: fetch it ourselves
        if slot.info is not None and (
            info.this_update < slot.info.this_update or (info.crl_number or 0) < (slot.info.crl_number or 0)
        ):
            return False  # never go back to an older CRL
        if slot.info is None or info.sha256 != slot.info.sha256:
            slot.index, slot.info = index, info
            log.info("CRL taken from the shared cache", extra={"url": slot.url, "crl_number": info.crl_number})
        return True

    async def _download_and_install(self, source: CrlSource, slot: _Slot) -> None:
        self.downloads += 1
        der = await self._fetch(slot.url)
        if not der:
            raise CrlError("empty CRL download", code=error_codes.CRL_MALFORMED)
        loop = asyncio.get_running_loop()
        digest = await loop.run_in_executor(None, _sha256_hex, der)  # ~40 ms for NCA's 19 MB GOST CRL
        if slot.info is not None and slot.info.sha256 == digest:
            return  # unchanged: already validated, nothing to re-parse
        self._dir.mkdir(parents=True, exist_ok=True)
        # Names of this process's own: the serving processes of one host share the folder and refresh alike.
        download = self._dir / f"{slot.stem}.crl.download-{os.getpid()}"
        pending = self._dir / f"{slot.stem}.idx.new-{os.getpid()}"
        await loop.run_in_executor(None, download.write_bytes, der)
        del der
        min_number = slot.info.crl_number if slot.info is not None else None
        work = partial(
            _validate_and_store,
            str(download),
            source.issuer_der,
            slot.last_attempt or self._clock(),
            min_number,
            slot.delta,
            str(pending),
        )
        try:
            meta = await loop.run_in_executor(self._executor, work)
            info = CrlInfo.from_meta(meta)
            if slot.info is not None and info.this_update < slot.info.this_update:
                raise CrlError("downloaded CRL is older than the cached one", code=error_codes.CRL_NUMBER_REGRESSED)
            index = await loop.run_in_executor(None, CrlIndex.load, pending)
        except BaseException:
            for leftover in (download, pending):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            raise
        os.replace(pending, self._dir / f"{slot.stem}.idx")
        os.replace(download, self._dir / f"{slot.stem}.crl")
        # Kept by hash for re-checking contract signatures offline (`authsvc.pki.crl_archive`).
        await loop.run_in_executor(None, archive, self._dir, self._dir / f"{slot.stem}.crl", info.sha256, info)
        slot.index, slot.info = index, info
        log.info("CRL installed", extra={"url": slot.url, "crl_number": info.crl_number, "entries": len(index)})

    # --- reading ------------------------------------------------------------------------------------
    def _fresh(self, slot: _Slot | None, now: datetime) -> bool:
        if slot is None or slot.info is None or slot.index is None:
            return False
        try:
            check_crl_fresh(slot.info, now, skew=self._skew, max_age=self._refresh * 24)
        except CrlError:
            return False
        return True

    def lookup(self, issuer: x509.Certificate, serial: int) -> CrlLookup | None:
        """The CRL verdict for ``serial`` issued by ``issuer``, or None when no fresh CRL is held."""
        source = self._sources.get(hashlib.sha256(certificate_der(issuer)).hexdigest())
        if source is None:
            return None
        now = self._clock()
        base = self._slots[source.url]
        if not self._fresh(base, now):
            return None
        assert base.index is not None and base.info is not None
        entry = base.index.lookup(serial)
        revoked = entry is not None
        delta_slot = self._slots.get(source.delta_url) if source.delta_url else None
        delta_number = delta_sha = None
        if self._fresh(delta_slot, now):
            assert delta_slot is not None and delta_slot.index is not None and delta_slot.info is not None
            d_info = delta_slot.info
            # RFC 5280 §5.2.4: a delta applies to a complete CRL numbered at least its base CRL number.
            if (
                d_info.base_crl_number is not None
                and base.info.crl_number is not None
                and d_info.base_crl_number <= base.info.crl_number
                and (d_info.crl_number or 0) > base.info.crl_number
            ):
                delta_number, delta_sha = d_info.crl_number, d_info.sha256
                d_entry = delta_slot.index.lookup(serial)
                if d_entry is not None:
                    revoked = d_entry.reason != _REMOVE_FROM_CRL
                    entry = d_entry if revoked else None
        return CrlLookup(
            revoked=revoked,
            entry=entry,
            crl_number=base.info.crl_number,
            crl_sha256=base.info.sha256,
            this_update=base.info.this_update,
            next_update=base.info.next_update,
            delta_crl_number=delta_number,
            delta_sha256=delta_sha,
            info=base.info,
        )

    @property
    def directory(self) -> Path:
        """Where the CRLs, their indexes and the archive (`authsvc.pki.crl_archive`) live."""
        return self._dir

    @property
    def sources(self) -> list[CrlSource]:
        return list(self._sources.values())

    def has_issuer(self, issuer: x509.Certificate) -> bool:
        return hashlib.sha256(certificate_der(issuer)).hexdigest() in self._sources

    def status(self) -> list[SourceStatus]:
        """State and age of every cached URL, for health checks and metrics."""
        now = self._clock()
        report = []
        for slot in self._slots.values():
            info = slot.info
            if info is None or slot.index is None:
                state = CacheState.EMPTY
            else:
                state = CacheState.FRESH if self._fresh(slot, now) else CacheState.STALE
            report.append(
                SourceStatus(
                    url=slot.url,
                    state=state,
                    crl_number=info.crl_number if info else None,
                    this_update=info.this_update if info else None,
                    next_update=info.next_update if info else None,
                    entries=len(slot.index) if slot.index is not None else 0,
                    age_seconds=(now - info.this_update).total_seconds() if info else None,
                    last_success=slot.last_success,
                    last_attempt=slot.last_attempt,
                    last_error=slot.last_error,
                )
            )
        return report
