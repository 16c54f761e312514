"""Several service processes on one PostgreSQL: nothing relies on process memory for correctness."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from authsvc.audit.chainer import chain_all
from authsvc.audit.verify import verify_database
from authsvc.crypto.local_keys import load_key_file
from authsvc.store.db import Database
from authsvc.store.engine import create_engine
from benchmarks.server import free_port
from tests.conftest import individual, reset_database, run_sync


@pytest.fixture
def two_servers(pg_dsn: str, tmp_path: Path) -> Iterator[tuple[list[str], str, dict[str, str]]]:
    run_sync(reset_database(pg_dsn))
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_DSN": pg_dsn,
        "AUTHSVC_KEYS_FILE": str(tmp_path / "keys.json"),
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        "AUTHSVC_SERVER_PROCESS_WORKERS": "1",
    }
    cli = [sys.executable, "-m", "authsvc.cli"]
    subprocess.run([*cli, "keys", "init"], env=env, check=True, capture_output=True, timeout=60)
    created = subprocess.run(
        [*cli, "lender", "create", "--name", "mp", "--json"], env=env, check=True, capture_output=True, timeout=60
    )
    key = json.loads(created.stdout)["api_key"]
    procs, bases, logs = [], [], []
    for i in range(2):
        port = free_port()
        logs.append((tmp_path / f"server{i}.log").open("wb"))
        procs.append(
            subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, stdout=logs[i], stderr=subprocess.STDOUT)
        )
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base in bases:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("server did not start") from None
                    time.sleep(0.2)
        yield bases, key, env
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)
        for log in logs:
            log.close()
        for i in range(2):
            text = (tmp_path / f"server{i}.log").read_text()
            assert "unhandled error" not in text and "Traceback" not in text, text[-2000:]


async def test_two_processes_one_key_one_client_one_chain(two_servers: tuple[list[str], str, dict[str, str]]) -> None:
    bases, key, env = two_servers
    body = individual()

    async def post(session: aiohttp.ClientSession, n: int, idem: str | None, body: Any = body) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}"} | ({"Idempotency-Key": idem} if idem else {})
        async with session.post(bases[n % 2] + "/v1/clients", json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    async with aiohttp.ClientSession() as session:
        answers = await asyncio.gather(*(post(session, n, "mp-1") for n in range(50)))
        assert [s for s, _ in answers] == [201] * 50
        assert len({b["id"] for _, b in answers}) == 1
        # Without a key, the same IIN through both processes: one more is a duplicate, never a second client.
        dup = await asyncio.gather(*(post(session, n, None) for n in range(10)))
        assert {s for s, _ in dup} == {409}
        fresh = individual(iin="900101300017")
        other = await asyncio.gather(*(post(session, n, None, fresh) for n in range(2)))
        assert sorted(s for s, _ in other) == [201, 409]

    keys = load_key_file(Path(env["AUTHSVC_KEYS_FILE"]))
    engine = create_engine(env["AUTHSVC_DATABASE_DSN"])
    try:
        await chain_all(Database(engine), keys)
    finally:
        await engine.dispose()
    report = await verify_database(env["AUTHSVC_DATABASE_DSN"], keys, None)
    assert report.ok, report.findings
    assert report.entries >= 5  # lender, two service starts, the two registrations, …
