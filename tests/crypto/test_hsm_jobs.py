"""The service's keys on a real SoftHSM2 token, off the event loop and rotated under traffic (R-12.2):
no device call blocks the loop (a token made slow, a loop-lag probe), the jobs role re-wraps old data keys
in the background after a rotation (a metric and a /readyz note while it runs, audit entries), a re-wrap
killed in the middle goes on, and two re-wrappers on PostgreSQL share the work without doing any row twice."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pkcs11
import pytest
from sqlalchemy import func, select

from authsvc.api.state import DB, ENGINE
from authsvc.audit.events import AuditEvent
from authsvc.audit.verify import verify_database
from authsvc.crypto.envelope import RecordCipher
from authsvc.crypto.key_cache import DataKeyCache
from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore, _Keys
from authsvc.store import rotation
from authsvc.store.schema import audit_log, audit_pending, clients
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.conftest import Api, individual, make_settings, reset_database, run_sync, start_api
from tests.crypto.softhsm_races import CRASH_SIGNALS
from tests.crypto.test_pkcs11_keys import _check
from tests.drivers.pkcs11.softhsm import PIN, provision, softhsm_home
from tests.drivers.pkcs11.test_async_token import _ticker  # the loop-lag probe
from tests.shared import REPO_ROOT

T = TypeVar("T")
ATTEMPTS = 3
DEVICE_DELAY_S = 0.3  # each device call of the slow token; on the loop thread that is a gap this long
SLOW_S = 0.2  # a loop gap this long means a device call ran on it (shared-machine noise is tens of ms)


@pytest.fixture(scope="module", autouse=True)
def _softhsm() -> None:
    softhsm_home()


@pytest.fixture
def token() -> str:
    return provision().label


@pytest.fixture
def hsm(token: str) -> Pkcs11KeyStore:
    store = Pkcs11KeyStore(SOFTHSM_MODULE, token, PIN)
    store.initialize()
    return store


class SlowToken(Pkcs11KeyStore):
    """The real store on the real token, each device call made DEVICE_DELAY_S slow (a far network HSM) and
    the thread it ran on noted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.threads: list[str] = []
        super().__init__(*args, **kwargs)

    def _job(self, what: str, fn: Callable[[pkcs11.Session, _Keys], T]) -> Callable[[], T]:
        real = super()._job(what, fn)

        def job() -> T:
            self.threads.append(threading.current_thread().name)
            time.sleep(DEVICE_DELAY_S)
            return real()

        return job


def _iins(n: int) -> list[str]:
    firsts = (f"9002024{k:04d}" for k in range(100, 400))
    return [f + str(_check(f)) for f in firsts if _check(f) is not None][:n]


async def test_no_device_call_blocks_the_event_loop(aiohttp_client: Any, token: str, tmp_path: Path) -> None:
    slow = SlowToken(SOFTHSM_MODULE, token, PIN)
    slow.initialize()
    api = await start_api(aiohttp_client, make_settings(f"sqlite:///{tmp_path}/a.db"), slow)  # type: ignore[arg-type]
    slow.threads = []
    gaps: list[float] = []
    stop = asyncio.Event()
    gc.collect()
    gc.disable()  # a collection of a long run's heap is a gap that says nothing about the device
    ticker = asyncio.create_task(_ticker(gaps, stop))
    try:
        (iin,) = _iins(1)
        made = await api.post("/v1/clients", individual(iin=iin), **{"Idempotency-Key": "reg-1"})
        assert made.status == 201, await made.text()
        client = (await made.json())["id"]
        slow.data_keys.clear()  # the look-up and the read unwrap on the token again
        found = await (await api.post("/v1/clients/lookup", {"iin": iin})).json()
        assert [c["id"] for c in found["items"]] == [client]
        assert (await api.get(f"/v1/clients/{client}")).status == 200
        assert (await (await api.client.get("/readyz")).json())["checks"]["keys"] is True  # (no trust store here)
        await _wait_for(lambda: _chained(api))  # the chainer's round: MACs and signatures on the token
    finally:
        stop.set()
        await ticker
        gc.enable()
    loop_thread = threading.current_thread().name
    assert slow.threads and loop_thread not in slow.threads, slow.threads
    assert all(t.startswith(f"pkcs11-keys-{token}_") for t in slow.threads), slow.threads
    assert max(gaps) < SLOW_S, max(gaps)
    # The read after the registration came from the cache (its data key was unwrapped once, or not at all).
    assert slow.data_keys.hits >= 1


async def _wait_for(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (found := await check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


@pytest.fixture
def fast_rewrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(rotation, "EVERY_S", 0.2)
    monkeypatch.setattr(rotation, "BATCH", 3)
    monkeypatch.setattr(rotation, "PAUSE_S", 0.1)
    yield


async def _register(api: Api, iin: str) -> str:
    resp = await api.post("/v1/clients", individual(iin=iin))
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _every_record_reads(api: Api, ids: list[str], iins: list[str]) -> None:
    for client_id, iin in zip(ids, iins, strict=True):
        body = await (await api.get(f"/v1/clients/{client_id}")).json()
        assert body["id"] == client_id and body["person"]["iin"][-2:] == iin[-2:], body
        found = await (await api.post("/v1/clients/lookup", {"iin": iin})).json()
        assert [c["id"] for c in found["items"]] == [client_id]


async def test_the_jobs_role_rewraps_in_the_background_while_traffic_runs(
    aiohttp_client: Any, hsm: Pkcs11KeyStore, dsn: str, fast_rewrap: None
) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn), hsm)  # type: ignore[arg-type]
    engine = api.app[ENGINE]
    iins = _iins(30)
    ids = [await _register(api, i) for i in iins[:14]]
    old = hsm.kek_id
    new = hsm.rotate_kek()
    notes: list[str] = []

    async def readyz_while_rewrapping() -> None:
        while True:
            body = await (await api.client.get("/readyz")).json()
            assert body["checks"]["keys"] is True and "keys" not in body["reasons"], body  # it does not make it unready
            if "keys_rewrap" in body["notes"]:
                notes.append(body["notes"]["keys_rewrap"])
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(readyz_while_rewrapping())
    during = await asyncio.gather(*(_register(api, i) for i in iins[14:]))  # under the new KEK at once
    ids += list(during)
    await _every_record_reads(api, ids[:14], iins[:14])  # old records read while they are re-wrapped

    async def all_new() -> bool:
        async with engine.connect() as conn:
            return {r.kek_id for r in await conn.execute(select(clients.c.kek_id))} == {new}

    await _wait_for(all_new)
    await _wait_for(lambda: _no_note(api))
    watcher.cancel()
    assert notes and f"under {new}" in notes[0], notes
    metrics = await (await api.client.get("/metrics")).text()
    assert "authsvc_keys_rewrap_remaining 0.0" in metrics
    rewrapped = float(
        next(ln for ln in metrics.splitlines() if ln.startswith("authsvc_keys_rewrapped_total")).split()[1]
    )
    assert rewrapped >= 14
    await _every_record_reads(api, ids, iins)
    await _wait_for(lambda: _chained(api))
    async with engine.connect() as conn:
        entries = [r.details for r in await conn.execute(select(audit_log.c.details).where(
            audit_log.c.event == AuditEvent.KEYS_REWRAPPED))]  # fmt: skip
    assert entries and all(f'"kek_id":"{new}"' in e for e in entries), entries
    report = await verify_database(dsn, hsm, None)
    assert report.ok, report.findings
    assert old in hsm.kek_ids()


async def _no_note(api: Api) -> bool:
    return "keys_rewrap" not in (await (await api.client.get("/readyz")).json())["notes"]


async def _chained(api: Api) -> bool:
    async with api.app[ENGINE].connect() as conn:
        return not (await conn.execute(select(func.count()).select_from(audit_pending))).scalar()


async def test_a_rewrap_killed_in_the_middle_goes_on_and_loses_nothing(
    aiohttp_client: Any, hsm: Pkcs11KeyStore, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = f"sqlite:///{tmp_path}/authsvc.db"
    monkeypatch.setattr(rotation, "EVERY_S", 3600.0)  # this process's job looks once, at start: nothing then
    api = await start_api(aiohttp_client, make_settings(dsn), hsm)  # type: ignore[arg-type]
    iins = _iins(12)
    ids = [await _register(api, i) for i in iins]
    new = hsm.rotate_kek()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), AUTHSVC_KEYS_BACKEND="pkcs11", AUTHSVC_HSM_PIN=PIN,
               AUTHSVC_KEYS_PKCS11_TOKEN_LABEL=token, AUTHSVC_DATABASE_DSN=dsn)  # fmt: skip
    operator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc.hsm", "--batch", "1", "--pause", "0.3", "rewrap",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    engine = api.app[ENGINE]

    async def under_new() -> int:
        async with engine.connect() as conn:
            n = (await conn.execute(select(func.count()).where(clients.c.kek_id == new))).scalar()
            return int(n or 0)

    try:
        started = await _wait_for(under_new)
        operator.send_signal(signal.SIGKILL)  # in the middle: some rows re-wrapped, most not
    finally:
        with contextlib.suppress(ProcessLookupError):
            operator.kill()
        await operator.wait()
    left = await under_new()
    assert 1 <= started <= left < len(ids), (started, left)
    await _every_record_reads(api, ids, iins)  # each row under one KEK or the other, every one reading
    report = await rotation.rewrap(api.app[DB], hsm, batch=5)  # the next run (the job's batches) goes on
    assert report.done and await under_new() == len(ids)
    await _every_record_reads(api, ids, iins)


def _in_a_child(scenario: str, *args: str, before: Callable[[], None] | None = None) -> None:
    """Run a `tests.crypto.softhsm_races` scenario in a child process: SoftHSM2 2.6 itself crashes the
    process (SIGSEGV or abort) in about 1 run in 6 when its token's files vanish under an open session or
    sessions race, and a crash must not take the test session with it. Only such a crash (death by
    SIGSEGV, SIGABRT or SIGBUS) is tried again, at most ATTEMPTS times in all; any other failure fails."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONFAULTHANDLER="1")
    env.pop("SOFTHSM2_CONF", None)  # the child makes its own SoftHSM2 folder
    crashes: list[str] = []
    for _ in range(ATTEMPTS):
        if before is not None:
            before()
        with tempfile.TemporaryDirectory(prefix="authsvc-race-") as work:
            done = subprocess.run(
                [sys.executable, "-m", "tests.crypto.softhsm_races", scenario, work, *args],
                env=env, capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
        output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        if done.returncode == 0:
            assert f"{scenario}: ok" in done.stdout, output
            return
        if -done.returncode not in CRASH_SIGNALS:
            print(output)
            pytest.fail(f"{scenario} failed (exit status {done.returncode}):\n{output}")
        crashes.append(f"{signal.Signals(-done.returncode).name}:\n{done.stderr[-4000:]}")
        print(f"{scenario}: the child crashed ({crashes[-1]}); trying again")
    pytest.fail(f"{scenario}: SoftHSM2 crashed the child {ATTEMPTS} times:\n" + "\n".join(crashes))


@pytest.mark.parametrize("backend", ["postgresql"])
def test_two_rewrappers_on_postgresql_share_the_work(dsn: str) -> None:
    _in_a_child("two-rewrappers", dsn, before=lambda: run_sync(reset_database(dsn)))


def test_a_token_gone_in_the_middle_of_traffic_half_writes_nothing_and_recovers() -> None:
    _in_a_child("token-gone")


async def test_a_record_opened_again_costs_no_trip_to_the_token(token: str) -> None:
    slow = SlowToken(SOFTHSM_MODULE, token, PIN)
    slow.initialize()
    cipher, wrapped = await RecordCipher.anew(slow, "record-1")
    sealed = cipher.seal_json("pii", {"iin": "811201401188"})
    slow.threads.clear()
    for _ in range(5):  # a registration's answer, a look-up, a read, an identification's contact and EDS identity
        assert (await RecordCipher.aopen(slow, "record-1", wrapped)).unseal_json("pii", sealed)["iin"] == "811201401188"
    assert slow.threads == []  # all from memory
    slow.data_keys.clear()
    await RecordCipher.aopen(slow, "record-1", wrapped)
    await RecordCipher.aopen(slow, "record-1", wrapped)
    assert len(slow.threads) == 1  # unwrapped once on the token, then remembered
    small = DataKeyCache(entries=3)
    for n in range(5):
        small.put("k", bytes([n]), bytes(32))
    assert len(small) == 3 and small.get("k", b"\x00") is None and small.get("k", b"\x04") == bytes(32)
    slow.close()
