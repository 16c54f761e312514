"""GET /readyz (issue 15): each component that is down says why — the database refusing connections, the
process pool broken by a worker's death, the trust anchors not loaded — and the answer is 503 then, 200 when
every component is ready. (The HSM gone: tests/crypto/test_pkcs11_keys.py; a CA without a usable CRL:
tests/api/test_eds_crl_sources.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from authsvc.api.state import EXECUTOR
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.pool import RENEWALS
from tests.api.test_eds_fixtures import pki_settings
from tests.conftest import _pg_admin, make_settings, start_api


async def readiness(api: Any) -> tuple[int, dict[str, Any]]:
    resp = await api.client.get("/readyz")
    body: dict[str, Any] = await resp.json()
    assert set(body["reasons"]) == {name for name, ok in body["checks"].items() if not ok}, body  # each says why
    assert all(body["reasons"].values()), body
    return resp.status, body


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_ready_when_every_component_is_and_the_trust_store_says_what_is_missing(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    ready = await start_api(aiohttp_client, make_settings(dsn, pki=pki_settings()), keys)
    status, body = await readiness(ready)
    assert status == 200 and body["status"] == "ready" and body["reasons"] == {}, body
    assert {"database", "keys", "process_pool", "trust", "revocation"} <= set(body["checks"]), body

    # The NCA's certificates from a URL nobody answers (the simulator is not running here).
    unreachable = {"anchor_files": [], "anchor_urls": ["http://127.0.0.1:9/root.cer"], "crl_sources": []}
    waiting = await start_api(aiohttp_client, make_settings(dsn, pki=pki_settings(**unreachable)), keys)
    for _ in range(100):
        status, body = await readiness(waiting)
        if "last error" in body["reasons"].get("trust", ""):
            break
        await asyncio.sleep(0.05)
    assert status == 503 and body["checks"]["trust"] is False, body
    reason = body["reasons"]["trust"]
    assert "1 of 1 trust certificates not loaded" in reason and "upstream_unreachable" in reason, reason


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_dead_pool_worker_makes_the_service_not_ready_until_its_pool_is_renewed(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn, pki=pki_settings(), server={"process_workers": 1}), keys)
    loop = asyncio.get_running_loop()
    worker = await loop.run_in_executor(api.app[EXECUTOR], os.getpid)
    os.kill(worker, signal.SIGKILL)
    for _ in range(200):  # the pool notices its worker's death on its own thread
        status, body = await readiness(api)
        if not body["checks"]["process_pool"]:
            break
        await asyncio.sleep(0.05)
    assert status == 503 and "process pool is broken" in body["reasons"]["process_pool"], body

    # The next use rebuilds it (no restart): the work runs on a new worker, the service is ready, it is counted.
    renewed = RENEWALS._value.get()
    replacement = await loop.run_in_executor(api.app[EXECUTOR], os.getpid)
    assert replacement != worker
    status, body = await readiness(api)
    assert status == 200 and body["checks"]["process_pool"] is True, body
    assert RENEWALS._value.get() == renewed + 1
    scraped = await (await api.client.get("/metrics")).text()
    assert "authsvc_process_pool_renewals_total" in scraped


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_a_database_refusing_connections_is_named(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn, pki=pki_settings()), keys)
    name = make_url(dsn).database
    try:
        # No new connections (superusers included), and the pool's open ones cut: an outage as the pool sees it.
        await _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        status, body = await readiness(api)
    finally:
        await _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert status == 503 and body["checks"]["database"] is False, body
    assert body["reasons"]["database"].startswith("database_unavailable"), body
    assert "Error)" in body["reasons"]["database"], body  # and what the driver said, by its type
    for _ in range(100):  # and ready again once it accepts connections
        status, body = await readiness(api)
        if status == 200:
            break
        await asyncio.sleep(0.05)
    assert status == 200, body
