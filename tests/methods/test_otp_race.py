"""Two `authsvc serve` processes on one PostgreSQL database: the same right code fired at both at the
same moment is accepted exactly once, and each queued SMS is sent by exactly one process's worker."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from authsvc.crypto.local_keys import LocalKeyStore, write_key_file
from authsvc.store import lenders
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from simulators.sms.app import create_app as sms_app
from tests.conftest import individual, reset_database, run_sync
from tests.methods.factorkit import PEOPLE, free_port, messages, sent_code_via

ARMAN = PEOPLE["arman"]
ROUNDS = 5


async def _wait_healthy(session: aiohttp.ClientSession, base: str, proc: asyncio.subprocess.Process) -> None:
    for _ in range(300):
        if proc.returncode is not None:
            raise AssertionError(f"authsvc serve exited with {proc.returncode}")
        try:
            async with session.get(base + "/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("authsvc serve did not start")


@pytest.fixture
async def two_services(pg_dsn: str, tmp_path: Path, aiohttp_server: Any) -> AsyncIterator[tuple[list[str], str, Any]]:
    run_sync(reset_database(pg_dsn))
    keys = LocalKeyStore.generate()
    write_key_file(tmp_path / "keys.json", keys)
    engine = create_engine(pg_dsn)
    async with Database(engine).transaction() as conn:
        _, api_key = await lenders.create(conn, "Race MFO")
    await engine.dispose()
    gateway = await aiohttp_server(sms_app(name="gw-a", delivery_delay_ms=10))
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_DSN": pg_dsn,
        "AUTHSVC_KEYS_FILE": str(tmp_path / "keys.json"),
        "AUTHSVC_SECURITY_TEST_PKI": "true",
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",  # photos are not what this test is about
        "AUTHSVC_SERVER_PROCESS_WORKERS": "1",
        "AUTHSVC_SERVER_LOG_LEVEL": "WARNING",
        "AUTHSVC_FACTORS_SMS_A_URL": str(gateway.make_url("/")).rstrip("/"),
        "AUTHSVC_FACTORS_SMS_B_URL": "",
        "AUTHSVC_FACTORS_OTP_RESEND_COOLDOWN_S": "0",
        "AUTHSVC_FACTORS_SMS_POLL_S": "0.05",
    }
    ports = [free_port(), free_port()]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "authsvc.cli",
            "serve",
            "--port",
            str(port),
            env=env,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        async with aiohttp.ClientSession() as session:
            for base, proc in zip(bases, procs, strict=True):
                await _wait_healthy(session, base, proc)
        yield bases, api_key, gateway
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in procs:
            await proc.wait()


async def test_one_code_fired_at_two_processes_is_accepted_once(two_services: tuple[list[str], str, Any]) -> None:
    (first, second), api_key, gateway = two_services
    auth = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        body = individual(iin=ARMAN.iin, phone=ARMAN.phone.number)
        async with http.post(first + "/v1/clients", json=body) as resp:
            assert resp.status == 201, await resp.text()
            client_id = (await resp.json())["id"]
        for n in range(1, ROUNDS + 1):
            # Alternate which process opens the identification and sends the code.
            home = first if n % 2 else second
            async with http.post(
                home + "/v1/identifications", json={"client_id": client_id, "operation": "login"}
            ) as r:
                ident = (await r.json())["id"]
            async with http.post(f"{home}/v1/identifications/{ident}/otp", json={}) as r:
                assert r.status == 202, await r.text()
            code = await sent_code_via([gateway], ARMAN.phone.number, n)

            async def fire(base: str, ident: str = ident, code: str = code) -> int:
                async with http.post(f"{base}/v1/identifications/{ident}/otp/verify", json={"code": code}) as r:
                    return r.status

            statuses = await asyncio.gather(fire(first), fire(second))
            # The loser lost to its own twin: "already used" (409), not a wrong guess (issue 11.7).
            assert sorted(statuses) == [200, 409], f"round {n}: {statuses}"
    # Each code went out once although both processes' workers watch the outbox.
    assert len(await messages(gateway, ARMAN.phone.number)) == ROUNDS
