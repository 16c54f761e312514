"""The service as the operator runs it (`authsvc serve` in its own process, a key file, a lender), for tests
that need the real server: its own HTTP stack over real sockets, its log, several databases."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from tests.shared import fixture_path

CA_FILES = ("nca_rsa_test.crt", "nca_gost_test.crt", "nca_gost2015_test.cer")


@dataclass
class Served:
    base: str
    host: str
    port: int
    key: str  # a lender's API key
    log: Path  # the server's stdout and stderr
    proc: subprocess.Popen[bytes]  # `authsvc serve` (the supervisor with --workers)
    env: dict[str, str]  # its environment (for `authsvc worker` beside it)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(work: Path, dsn: str, *, args: Sequence[str] = (), **env_over: str) -> Iterator[Served]:
    """Start `authsvc serve [args]` on ``dsn`` (migrated and given a lender first); stopped on exit."""
    port = free_port()
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_DSN": dsn,
        "AUTHSVC_KEYS_FILE": str(work / "keys.json"),
        "AUTHSVC_AUDIT_WITNESS_FILE": str(work / "witness.json"),
        "AUTHSVC_AUDIT_HEAD_LOG": str(work / "heads.jsonl"),
        "AUTHSVC_RATE_LIMIT_REQUESTS_PER_WINDOW": "1000000",
        "AUTHSVC_SERVER_PROCESS_WORKERS": "1",
        # Trust the NCA test CAs from the shared fixtures, so /v1/eds/* is ready without the simulator.
        "AUTHSVC_PKI_ANCHOR_FILES": json.dumps([str(fixture_path("nca", "ncanode", "ca", n)) for n in CA_FILES]),
        "AUTHSVC_PKI_ANCHOR_URLS": "[]",
        "AUTHSVC_PKI_INTERMEDIATE_URLS": "[]",
        "AUTHSVC_PKI_CRL_SOURCES": "[]",
        **env_over,
    }
    cli = [sys.executable, "-m", "authsvc.cli"]
    subprocess.run([*cli, "keys", "init", "--if-missing"], env=env, check=True, capture_output=True, timeout=120)
    created = subprocess.run(
        [*cli, "lender", "create", "--name", "served", "--json"], env=env, check=True, capture_output=True, timeout=120
    )
    key = json.loads(created.stdout)["api_key"]
    log_path = work / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*cli, "serve", "--port", str(port), *args], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("server did not start: " + log_path.read_text()[-2000:]) from None
                    time.sleep(0.2)
            yield Served(base, "127.0.0.1", port, key, log_path, proc, env)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def in_thread(app: web.Application) -> Iterator[str]:
    """Serve ``app`` (a simulator) from a thread of its own, so blocking test code can call it; its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    port = free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
