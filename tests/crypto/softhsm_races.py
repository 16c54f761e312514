"""The SoftHSM2 race scenarios, each run in a child process of its own (`tests/crypto/test_hsm_jobs.py`):

    python -m tests.crypto.softhsm_races token-gone WORKDIR
    python -m tests.crypto.softhsm_races two-rewrappers WORKDIR POSTGRESQL_DSN

SoftHSM2 2.6 itself crashes the process (SIGSEGV or abort) in about 1 run in 6 when its token's files vanish
under an open session or sessions race; in a child, such a crash costs an attempt, not the test session. A
scenario asserts what it checks and exits 0; a failed check exits 1 with its traceback. A crash of a process
it started by the same signal is re-raised on itself, so the parent sees SoftHSM2's crash for what it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from authsvc.api.state import ENGINE
from authsvc.audit.events import AuditEvent
from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore
from authsvc.store import rotation
from authsvc.store.schema import audit_log, audit_pending, clients
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.conftest import Api, individual, make_settings, start_api
from tests.drivers.pkcs11.softhsm import PIN, provision, softhsm_home, token_dir
from tests.shared import REPO_ROOT

# The crashes SoftHSM2 is known for; anything else is an ordinary failure.
CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS})


def iins(n: int) -> list[str]:
    from tests.crypto.test_pkcs11_keys import _check

    firsts = (f"9002024{k:04d}" for k in range(100, 400))
    return [f + str(_check(f)) for f in firsts if _check(f) is not None][:n]


async def wait_for(check: Callable[[], Awaitable[Any]], timeout_s: float = 60.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (found := await check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


async def register(api: Api, iin: str) -> str:
    resp = await api.post("/v1/clients", individual(iin=iin))
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def every_record_reads(api: Api, ids: list[str], numbers: list[str]) -> None:
    for client_id, iin in zip(ids, numbers, strict=True):
        body = await (await api.get(f"/v1/clients/{client_id}")).json()
        assert body["id"] == client_id and body["person"]["iin"][-2:] == iin[-2:], body
        found = await (await api.post("/v1/clients/lookup", {"iin": iin})).json()
        assert [c["id"] for c in found["items"]] == [client_id]


class _Clients:
    """`aiohttp_client` outside pytest: test clients on real local servers, closed at the end."""

    def __init__(self) -> None:
        self.made: list[TestClient[Any, Any]] = []

    async def __call__(self, app: web.Application) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        self.made.append(client)
        return client

    async def close(self) -> None:
        for client in self.made:
            await client.close()


async def token_gone(work: Path) -> None:
    """The token pulled out in the middle of registrations: 503 `key_store_unavailable` and /readyz says
    why, nothing half-written, and the store reconnects when the token is back."""
    made = provision()
    hsm = Pkcs11KeyStore(SOFTHSM_MODULE, made.label, PIN)
    hsm.initialize()
    clients_ = _Clients()
    try:
        api = await start_api(clients_, make_settings(f"sqlite:///{work}/a.db"), hsm)  # type: ignore[arg-type]
        numbers = iins(200)
        known = [await register(api, i) for i in numbers[:4]]
        answers: list[tuple[int, str | None]] = []
        waiting = iter(numbers[4:-1])
        back = asyncio.Event()

        async def traffic() -> None:  # registrations keep coming until the token is back, however fast they are
            while not back.is_set() and (iin := next(waiting, None)) is not None:
                resp = await api.post("/v1/clients", individual(iin=iin))
                body = await resp.json()
                answers.append((resp.status, body.get("code")))

        async def answered() -> bool:
            return len(answers) >= 4

        async def refused() -> bool:
            return any(status == 503 for status, _ in answers)

        folder = token_dir(made.serial)
        running = asyncio.gather(*(traffic() for _ in range(4)))
        await wait_for(answered)
        # The token pulled out while registrations run, between two device calls. SoftHSM2 aborts or crashes
        # when its files vanish under an open session (a real token answers CKR_DEVICE_REMOVED, on which the
        # store drops its session): so the session is dropped as that answer would, then the files go.
        with hsm._lock:
            hsm._drop("the token was removed")
            shutil.move(folder, work / "pocket")
        try:
            await wait_for(refused)
            body = await (await api.client.get("/readyz")).json()
            assert body["checks"]["keys"] is False and "HSM" in body["reasons"]["keys"], body
            assert (await api.get(f"/v1/clients/{known[0]}")).status == 503  # no record opens, cached or not
        finally:
            with hsm._lock:
                shutil.move(work / "pocket", folder)
            back.set()
        await running
        assert {a for a in answers if a[0] != 201} == {(503, "key_store_unavailable")}, answers
        async with api.app[ENGINE].connect() as conn:  # nothing half-written: exactly the answered registrations
            stored = (await conn.execute(select(func.count()).select_from(clients))).scalar()
        assert stored == len(known) + sum(1 for status, _ in answers if status == 201), (stored, answers)
        await asyncio.sleep(1.1)  # reconnection is tried at most once a second
        body = await (await api.client.get("/readyz")).json()
        assert body["checks"]["keys"] is True, body
        ids = [*known, await register(api, numbers[-1])]
        await every_record_reads(api, ids, [*numbers[:4], numbers[-1]])
    finally:
        await clients_.close()


async def two_rewrappers(work: Path, dsn: str) -> None:
    """Two `python -m authsvc.hsm rewrap` processes (two hosts' operators) on one PostgreSQL database after a
    rotation: `FOR UPDATE SKIP LOCKED` shares the rows, each re-wrapped exactly once and audited once."""
    made = provision()
    hsm = Pkcs11KeyStore(SOFTHSM_MODULE, made.label, PIN)
    hsm.initialize()
    clients_ = _Clients()
    try:
        rotation.EVERY_S = 3600.0  # this process's own background job looks once, at start (nothing then)
        api = await start_api(clients_, make_settings(dsn), hsm)  # type: ignore[arg-type]
        numbers = iins(20)
        ids = [await register(api, i) for i in numbers]
        new = hsm.rotate_kek()
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), AUTHSVC_KEYS_BACKEND="pkcs11", AUTHSVC_HSM_PIN=PIN,
                   AUTHSVC_KEYS_PKCS11_TOKEN_LABEL=made.label, AUTHSVC_DATABASE_DSN=dsn)  # fmt: skip
        command = [sys.executable, "-m", "authsvc.hsm", "--batch", "2", "--pause", "0.05", "rewrap"]
        pipe = asyncio.subprocess.PIPE
        rewrappers = [
            await asyncio.create_subprocess_exec(*command, env=env, stdout=pipe, stderr=pipe) for _ in range(2)
        ]
        outs = [await p.communicate() for p in rewrappers]
        for p, (out, err) in zip(rewrappers, outs, strict=True):
            assert p.returncode is not None
            if -p.returncode in CRASH_SIGNALS:
                print(f"a rewrapper died by signal {-p.returncode}: {err.decode()}", file=sys.stderr)
                _die_by(-p.returncode)
            assert p.returncode == 0, (p.returncode, out, err)
        reports = [json.loads(out) for out, _ in outs]
        assert all(r["current_kek"] == new and not any(r["remaining"].values()) for r in reports), reports
        by_each = [r["rewrapped"]["clients"] for r in reports]
        assert sum(by_each) == len(ids), by_each  # no row re-wrapped by both, none left out
        async with api.app[ENGINE].connect() as conn:
            assert {r.kek_id for r in await conn.execute(select(clients.c.kek_id))} == {new}
            audited = 0
            for table in (audit_pending, audit_log):
                rows = await conn.execute(select(table.c.details).where(table.c.event == AuditEvent.KEYS_REWRAPPED))
                for (details,) in rows:
                    found = json.loads(details)
                    assert found["kek_id"] == new, found
                    audited += found["rewrapped"] if found["table"] == "clients" else 0
        assert audited == len(ids), audited  # each batch audited once, with what it did
        await every_record_reads(api, ids, numbers)
    finally:
        await clients_.close()


def _die_by(signum: int) -> None:
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def main(argv: list[str]) -> int:
    softhsm_home()  # this process's own SoftHSM2 folder
    scenario, work = argv[0], Path(argv[1])
    if scenario == "token-gone":
        asyncio.run(token_gone(work))
    elif scenario == "two-rewrappers":
        asyncio.run(two_rewrappers(work, argv[2]))
    else:
        print(f"unknown scenario {scenario!r}", file=sys.stderr)
        return 2
    print(f"{scenario}: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
