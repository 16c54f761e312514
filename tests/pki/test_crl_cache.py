"""The CRL cache keeps good data through every fault NCA's CRL hosts produce (KZ-PKI.md §3, R-7.1)."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from authsvc.parties.http import HttpClient, RetryPolicy
from authsvc.parties.nca import NcaClient
from authsvc.pki.crl_cache import CacheState, CrlCache, CrlSource
from tests.pki.test_crl import T0, der, make_ca, make_crl

CA = make_ca()
ISSUER = asn1_x509.Certificate.load(der(CA[1]))
HOLD, KEY = x509.ReasonFlags.certificate_hold, x509.ReasonFlags.key_compromise
ENTRIES = [(1000 + i, T0 - timedelta(days=i + 1), KEY if i % 2 else HOLD) for i in range(200)]


def crl(number: int, entries: list[Any] = ENTRIES, **kwargs: Any) -> bytes:
    kwargs.setdefault("this_update", T0 + timedelta(minutes=number))
    kwargs.setdefault("next_update", T0 + timedelta(days=1))
    return make_crl(kwargs.pop("ca", CA), entries, number=number, **kwargs)


class CrlHost:
    """Serves whatever body/status the test sets, per path; 'slow' sleeps past the client timeout."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, bytes, str] | str] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        answer = self.answers.get(request.path, (404, b"", "text/plain"))
        if answer == "slow":
            await asyncio.sleep(1.5)
            answer = (200, crl(9), "application/pkix-crl")
        assert not isinstance(answer, str)
        status, body, kind = answer
        return web.Response(status=status, body=body, content_type=kind)


@pytest.fixture
async def host(aiohttp_server: Any) -> AsyncIterator[tuple[CrlHost, str]]:
    fake = CrlHost()
    app = web.Application()
    app.router.add_get("/{name}", fake.handle)
    server = await aiohttp_server(app)
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


@pytest.fixture
async def fetch() -> AsyncIterator[NcaClient]:
    http = HttpClient(timeout=0.4, retry=RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.01))
    yield NcaClient(http, timeout=0.4, crl_timeout=0.4)
    await http.close()


def leftovers(directory: Path) -> list[str]:
    """Temporary files a refused download may have left behind."""
    return [p.name for p in directory.iterdir() if p.suffix in (".download", ".new") or ".tmp-" in p.name]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_cache(
    directory: Path, base: str, nca: NcaClient, executor: Any, clock: Clock, delta: bool = False
) -> CrlCache:
    source = CrlSource(base + "/full.crl", der(CA[1]), base + "/delta.crl" if delta else None)
    return CrlCache(directory, [source], nca.fetch_crl, executor=executor, clock=clock)


async def test_bad_downloads_never_replace_good_data(
    tmp_path: Path, host: tuple[CrlHost, str], fetch: NcaClient, threads: ThreadPoolExecutor
) -> None:
    fake, base = host
    clock = Clock(T0 + timedelta(hours=1))
    cache = make_cache(tmp_path, base, fetch, threads, clock)
    url = base + "/full.crl"
    assert cache.lookup(ISSUER, 1000) is None and cache.status()[0].state == CacheState.EMPTY

    fake.answers["/full.crl"] = (200, crl(5), "application/pkix-crl")
    assert await cache.refresh() == {url: True}
    good = cache.lookup(ISSUER, 1001)
    assert good is not None and good.revoked and good.crl_number == 5
    assert good.entry is not None and good.entry.reason == 1
    assert cache.lookup(ISSUER, 999) is not None and not cache.lookup(ISSUER, 999).revoked  # type: ignore[union-attr]

    pkix = "application/pkix-crl"
    faults: list[tuple[tuple[int, bytes, str] | str, str]] = [
        ((404, b"Not Found", "text/plain"), "crl_download_failed"),
        ((200, b"", pkix), "upstream_bad_response"),
        ((200, b"<html>Try again</html>", "text/html"), "upstream_bad_response"),
        ((200, b"\x30\x82\x01\x00" + bytes(range(256)), pkix), "crl_malformed"),
        ("slow", "upstream_timeout"),
        ((200, crl(4, this_update=T0 + timedelta(minutes=30)), pkix), "crl_number_regressed"),
        ((200, crl(6, ca=make_ca("impostor")), pkix), "crl_issuer_mismatch"),
        ((200, crl(7, next_update=T0 + timedelta(minutes=30)), pkix), "crl_expired"),
        ((200, crl(8)[:-40], pkix), "crl_malformed"),
    ]
    for answer, name in faults:
        fake.answers["/full.crl"] = answer
        assert await cache.refresh() == {url: False}, name
        status = cache.status()[0]
        assert status.state == CacheState.FRESH and status.crl_number == 5, name
        assert (status.last_error or "").startswith(name), status.last_error
        again = cache.lookup(ISSUER, 1001)
        assert again is not None and again.revoked and again.crl_sha256 == good.crl_sha256, name
    assert leftovers(tmp_path) == []

    fake.answers["/full.crl"] = (200, crl(9, ENTRIES[:10]), "application/pkix-crl")
    assert await cache.refresh() == {url: True}
    newer = cache.lookup(ISSUER, 1150)
    assert newer is not None and not newer.revoked and newer.crl_number == 9
    assert cache.status()[0].last_error is None and cache.status()[0].entries == 10


async def test_index_survives_a_restart_without_network(
    tmp_path: Path, host: tuple[CrlHost, str], fetch: NcaClient, threads: ThreadPoolExecutor
) -> None:
    fake, base = host
    clock = Clock(T0 + timedelta(hours=1))
    fake.answers["/full.crl"] = (200, crl(5), "application/pkix-crl")
    first = make_cache(tmp_path, base, fetch, threads, clock)
    assert all((await first.refresh()).values())

    fake.answers.clear()  # the CRL host is gone
    second = make_cache(tmp_path, base, fetch, threads, clock)
    await second.load()
    found = second.lookup(ISSUER, 1003)
    assert found is not None and found.revoked and found.crl_number == 5

    clock.now = T0 + timedelta(days=2)  # past nextUpdate and nothing newer: stale, not trusted
    assert second.lookup(ISSUER, 1003) is None
    assert second.status()[0].state == CacheState.STALE


async def test_delta_crl_adds_revocations_and_releases_holds(
    tmp_path: Path, host: tuple[CrlHost, str], fetch: NcaClient, threads: ThreadPoolExecutor
) -> None:
    fake, base = host
    clock = Clock(T0 + timedelta(hours=1))
    fake.answers["/full.crl"] = (200, crl(5), "application/pkix-crl")
    delta_entries = [(5000, T0, KEY), (1000, T0, x509.ReasonFlags.remove_from_crl)]  # 1000 was on hold
    fake.answers["/delta.crl"] = (200, crl(6, delta_entries, delta_of=5), "application/pkix-crl")
    cache = make_cache(tmp_path, base, fetch, threads, clock, delta=True)
    assert all((await cache.refresh()).values())
    added, released, kept = (cache.lookup(ISSUER, s) for s in (5000, 1000, 1001))
    assert added is not None and added.revoked and added.delta_crl_number == 6
    assert released is not None and not released.revoked
    assert kept is not None and kept.revoked

    # a delta built on a newer base than the one held must not be applied
    fake.answers["/delta.crl"] = (200, crl(8, delta_entries, delta_of=7), "application/pkix-crl")
    assert all((await cache.refresh()).values())
    ignored = cache.lookup(ISSUER, 5000)
    assert ignored is not None and not ignored.revoked and ignored.delta_crl_number is None


async def test_parsing_runs_in_a_worker_process(tmp_path: Path, host: tuple[CrlHost, str], fetch: NcaClient) -> None:
    fake, base = host
    fake.answers["/full.crl"] = (200, crl(5), "application/pkix-crl")
    with ProcessPoolExecutor(1) as pool:
        cache = make_cache(tmp_path, base, fetch, pool, Clock(T0 + timedelta(hours=1)))
        assert all((await cache.refresh()).values())
        fake.answers["/full.crl"] = (200, crl(6, ca=make_ca("impostor")), "application/pkix-crl")
        assert not any((await cache.refresh()).values())  # the worker's refusal comes back as data
    assert "crl_issuer_mismatch" in (cache.status()[0].last_error or "")
    found = cache.lookup(ISSUER, 1001)
    assert found is not None and found.revoked


async def test_background_refresher_starts_and_stops(
    tmp_path: Path, host: tuple[CrlHost, str], fetch: NcaClient, threads: ThreadPoolExecutor
) -> None:
    fake, base = host
    fake.answers["/full.crl"] = (200, crl(5), "application/pkix-crl")
    cache = make_cache(tmp_path, base, fetch, threads, Clock(T0 + timedelta(hours=1)))
    await cache.start()
    try:
        for _ in range(200):
            if cache.status()[0].state == CacheState.FRESH:
                break
            await asyncio.sleep(0.02)
        assert cache.status()[0].state == CacheState.FRESH
    finally:
        await cache.close()


async def test_unknown_issuer_has_no_answer(tmp_path: Path, fetch: NcaClient) -> None:
    cache = CrlCache(tmp_path, [], fetch.fetch_crl)
    assert cache.lookup(ISSUER, 1) is None and not cache.has_issuer(ISSUER)


async def test_indexing_a_large_crl_does_not_stall_the_event_loop(tmp_path: Path, host: tuple[CrlHost, str]) -> None:
    """DESIGN.md §4: CRL parsing runs in the process pool; the loop keeps serving meanwhile."""
    import time

    from authsvc.pki.crl import index_crl_file
    from tests.pki.test_crl import big_crl

    fake, base = host
    body, _ = big_crl()
    at = T0 + timedelta(hours=1)
    sample = tmp_path / "sample.crl"
    sample.write_bytes(body)
    started = time.perf_counter()
    index_crl_file(sample, der(CA[1]), at)  # the same work done in-loop, for scale
    in_loop = time.perf_counter() - started

    fake.answers["/full.crl"] = (200, body, "application/pkix-crl")
    patient = HttpClient(timeout=10.0, retry=RetryPolicy(attempts=1))  # a 1 MB body on a busy CI box
    with ProcessPoolExecutor(1) as pool:
        await asyncio.get_running_loop().run_in_executor(pool, int)  # start the worker beforehand
        cache = make_cache(tmp_path / "cache", base, NcaClient(patient, crl_timeout=10.0), pool, Clock(at))
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.perf_counter()
            while True:
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        refreshed = await cache.refresh()
        task.cancel()
        await patient.close()
    assert all(refreshed.values()), cache.status()[0].last_error
    assert cache.status()[0].entries == len(big_crl()[1])
    # run in the loop, one gap would be at least `in_loop` long
    assert max(gaps) < in_loop * 0.8, (max(gaps), in_loop)


async def test_every_installed_crl_is_archived_and_rechecks_offline(
    tmp_path: Path, host: tuple[CrlHost, str], fetch: NcaClient, threads: ThreadPoolExecutor
) -> None:
    """Issue 3 §6: a revocation answer taken from a CRL can be re-checked years later without the network."""
    from authsvc.pki.crl_archive import archived, recheck_crl

    fake, base = host
    at = T0 + timedelta(hours=1)
    cache = make_cache(tmp_path, base, fetch, threads, Clock(at))
    fake.answers["/full.crl"] = (200, crl(5), "application/pkix-crl")
    assert await cache.refresh() == {base + "/full.crl": True}
    used = cache.lookup(ISSUER, 1000)
    assert used is not None
    fake.answers["/full.crl"] = (200, crl(6, ENTRIES[:10]), "application/pkix-crl")
    assert await cache.refresh() == {base + "/full.crl": True}  # the cache moves on; the archive keeps both
    issuer = der(CA[1])

    def recheck(serial: int, sha256: str = used.crl_sha256, when: datetime = at, by: bytes = issuer) -> str | None:
        return recheck_crl(str(tmp_path), sha256, None, by, serial, when)

    assert recheck(999) is None  # not listed: good
    assert recheck(1000) == "revocation_revoked"  # listed, revoked a day before
    assert recheck(1000, when=T0 - timedelta(days=3)) == "revocation_evidence_invalid"  # CRL not yet issued then
    assert recheck(999, by=der(make_ca("impostor")[1])) == "revocation_evidence_invalid"
    assert recheck(999, sha256="0" * 64) == "revocation_evidence_missing"
    path = archived(tmp_path, used.crl_sha256)
    body = bytearray(path.read_bytes())
    body[-5] ^= 1
    path.write_bytes(bytes(body))
    assert recheck(999) == "revocation_evidence_invalid"


def _refresh_in_a_process(directory: str, url: str, issuer: bytes, rounds: list[str], go: Any, out: Any) -> None:
    """A serving process's CRL cache (in a process of its own): at each round's time, refresh once and report
    whether it downloaded, and the CRL number it then answers from."""

    async def run() -> None:
        http = HttpClient(timeout=5, retry=RetryPolicy(attempts=1, backoff=0.01, max_backoff=0.01))
        clock = Clock(datetime.fromisoformat(rounds[0]))
        cache = CrlCache(
            Path(directory), [CrlSource(url, issuer)], NcaClient(http, timeout=5, crl_timeout=5).fetch_crl, clock=clock
        )
        try:
            await cache.load()
            for when in rounds:
                clock.now = datetime.fromisoformat(when)
                go.wait(timeout=60)  # both processes refresh at the same moment, when the test says
                before = cache.downloads
                ok = await cache.refresh()
                found = cache.lookup(asn1_x509.Certificate.load(issuer), 1001)
                out.put((ok == {url: True}, cache.downloads - before, found.crl_number if found else None))
        finally:
            await http.close()

    asyncio.run(run())


async def test_two_processes_sharing_the_folder_download_each_crl_once(tmp_path: Path, aiohttp_server: Any) -> None:
    """Issue 15: the serving processes of a host share the CRL folder; one downloads and parses, the other
    takes its index file. Again after the refresh interval: one more download, not two."""
    fetched: list[str] = []
    body = {"now": crl(5)}

    async def serve_crl(request: web.Request) -> web.Response:
        fetched.append(request.path)
        await asyncio.sleep(0.3)  # a download takes a while: the other process waits on the lock meanwhile
        return web.Response(body=body["now"], content_type="application/pkix-crl")

    app = web.Application()
    app.router.add_get("/full.crl", serve_crl)
    server = await aiohttp_server(app)
    url = str(server.make_url("/full.crl"))
    rounds = [(T0 + timedelta(hours=1)).isoformat(), (T0 + timedelta(hours=2, minutes=10)).isoformat()]
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Barrier(3), ctx.Queue()
    processes = [
        ctx.Process(target=_refresh_in_a_process, args=(str(tmp_path), url, der(CA[1]), rounds, go, out))
        for _ in range(2)
    ]
    for p in processes:
        p.start()
    await asyncio.to_thread(go.wait, 60)
    first = [await asyncio.to_thread(out.get, True, 60) for _ in range(2)]
    assert len(fetched) == 1, fetched
    assert sorted(first) == [(True, 0, 5), (True, 1, 5)]  # one downloaded, the other took its index
    body["now"] = crl(6)  # a newer CRL by the next refresh, past the refresh interval (an hour)
    await asyncio.to_thread(go.wait, 60)
    second = [await asyncio.to_thread(out.get, True, 60) for _ in range(2)]
    for p in processes:
        await asyncio.to_thread(p.join, 60)
        assert p.exitcode == 0
    assert len(fetched) == 2, fetched
    assert sorted(second) == [(True, 0, 6), (True, 1, 6)]


def test_the_crl_refresh_path_imports_none_of_the_api_stack() -> None:
    # A pool worker refreshing the 19 MB-class NCA CRL imports what `_validate_and_store` needs; the package's
    # facade once pulled pydantic, the settings and the metrics in with it (+23 MB peak, over the 100 MB target).
    import subprocess
    import sys

    probe = (
        "import sys, authsvc.pki.crl_cache; "
        "print(' '.join(m for m in ('pydantic', 'prometheus_client', 'aiohttp', 'pyhanko', 'lxml', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""
