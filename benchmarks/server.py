"""Start a real `authsvc serve` process for a benchmark: its own key file and database, pinned to one core."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    base: str
    api_key: str
    workdir: Path
    pid: int


def audit_files(work: Path) -> dict[str, str]:
    """The ``[audit]`` files of a benchmark's service, in its own scratch directory: with the defaults (the
    checkout's ``var/audit/``) its heads, signed by the benchmark's throwaway keys, would land in the developer's
    head log, and `authsvc audit verify` there would then report the chain TAMPERED."""
    return {"head_log": str(work / "audit-heads.jsonl"), "witness_file": str(work / "audit-witness.json")}


def audit_env(work: Path) -> dict[str, str]:
    """:func:`audit_files` as the environment variables of a service started as a process."""
    return {f"AUTHSVC_AUDIT_{name.upper()}": value for name, value in audit_files(work).items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running(
    dsn: str | None, *, core: int | None = 0, extra_env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[Server]:
    """`dsn` None = a fresh SQLite file. The server is pinned to `core` with taskset when available; ``args``
    go to `authsvc serve` (``--workers N``)."""
    work = Path(tempfile.mkdtemp(prefix="authsvc-bench-"))
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_DSN": dsn or f"sqlite:///{work}/bench.db",
        "AUTHSVC_KEYS_FILE": str(work / "keys.json"),
        "AUTHSVC_RATE_LIMIT_REQUESTS_PER_WINDOW": "100000000",
        "AUTHSVC_SERVER_LOG_LEVEL": "WARNING",
        "AUTHSVC_SERVER_PROCESS_WORKERS": "1",
        **audit_env(work),
        **(extra_env or {}),
    }
    cli = [sys.executable, "-m", "authsvc.cli"]
    subprocess.run([*cli, "keys", "init"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [*cli, "lender", "create", "--name", "bench", "--json"], env=env, check=True, capture_output=True
    )
    key = json.loads(out.stdout)["api_key"]
    port = free_port()
    pin = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    with (work / "log").open("wb") as log:  # the child holds its own copy of the descriptor
        proc = subprocess.Popen([*pin, *cli, "serve", "--port", str(port), *args], env=env, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts slowly (the face models, the process pool)
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError((work / "log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield Server(base, key, work, proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


async def started(dsn: str, processes: int) -> dict[str, list[int]]:
    """Once all ``processes`` of a service on ``dsn`` have started (their `service.started` audit entries): their
    pids by role ("all", "api", "jobs"), so a benchmark can read the serving process's CPU apart from the jobs'."""
    import asyncio
    import json

    from sqlalchemy import select, union_all

    from authsvc.store.engine import create_engine
    from authsvc.store.schema import audit_log, audit_pending

    # Waiting or chained: one statement over both tables, so the chainer cannot move a row between two reads.
    query = union_all(*(select(t.c.details).where(t.c.event == "service.started") for t in (audit_pending, audit_log)))
    engine = create_engine(dsn)
    try:
        for _ in range(600):
            async with engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            if len(rows) >= processes:
                pids: dict[str, list[int]] = {}
                for details in (json.loads(r.details) for r in rows):
                    pids.setdefault(details["role"], []).append(details["pid"])
                return pids
            await asyncio.sleep(0.1)
        raise RuntimeError("the service's processes did not all start")
    finally:
        await engine.dispose()
