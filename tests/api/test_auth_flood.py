"""Issue 11 §9: a flood of unauthenticated requests from one source is throttled before authentication and
audited as counts, not one row per request (R-12.1); a lender with a valid key is meanwhile unaffected."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from authsvc.api.middlewares import AUTH_FAILURES
from authsvc.api.state import ENGINE
from authsvc.crypto.local_keys import LocalKeyStore
from tests.auditkit import entries
from tests.conftest import make_settings, start_api

LIMIT = 10
ONE_WINDOW = 10**9  # fixed windows from the epoch: the whole test falls in one (an hour's could end mid-test)
NOWHERE = "/v1/identifications/00000000-0000-4000-8000-000000000000"


async def failure_rows(api: Any) -> list[dict[str, Any]]:
    """The details of every auth.failed entry, waiting or chained."""
    async with api.app[ENGINE].connect() as conn:
        rows = await conn.execute(entries(event="auth.failed"))
        return [json.loads(r.details) for r in rows]


@pytest.mark.parametrize("key_cache_s", [30, 0], ids=["key-cache", "no-key-cache"])
async def test_a_flood_from_one_source_is_throttled_and_counted(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, key_cache_s: int
) -> None:
    settings = make_settings(
        dsn,
        rate_limit={"auth_failures_per_window": LIMIT, "auth_failure_window_s": ONE_WINDOW},
        security={"api_key_cache_s": key_cache_s},
    )
    api = await start_api(aiohttp_client, settings, keys)
    assert (await api.get(NOWHERE)).status == 404  # the lender's key, known to this process

    async def intruder(i: int) -> tuple[int, str, str | None]:
        headers = {"Authorization": f"Bearer ak_wrong{i}"} if i % 2 else {}
        resp = await api.client.get(NOWHERE, headers=headers)
        await resp.read()
        return resp.status, resp.content_type, resp.headers.get("Retry-After")

    async def lender() -> str:  # past authentication: the identification is not there
        resp = await api.get(NOWHERE)
        return str((await resp.json())["code"])

    # The first LIMIT failures are answered 401 in turn; then the flood, with the lender's requests among it.
    first = [await intruder(i) for i in range(LIMIT)]
    assert [s for s, _, _ in first] == [401] * LIMIT
    flood, lenders = await asyncio.gather(
        asyncio.gather(*(intruder(i) for i in range(LIMIT, 300))), asyncio.gather(*(lender() for _ in range(30)))
    )
    assert lenders == ["identification_not_found"] * 30
    assert {(s, ct) for s, ct, _ in flood} == {(429, "application/problem+json")}
    assert all(int(retry or 0) >= 1 for _, _, retry in flood)

    rows = await failure_rows(api)
    assert [r["count"] for r in rows] == [1]  # only the first failure was written at once
    assert await api.app[AUTH_FAILURES].flush(everything=True) == 1  # the window's count, as at a stop
    rows = await failure_rows(api)
    assert len(rows) == 2
    counted = next(r for r in rows if "window_start" in r)
    assert (counted["count"], counted["throttled"], counted["failures_in_window"]) == (LIMIT - 1, 290, LIMIT)
    assert counted["reasons"] == {"missing": LIMIT // 2, "invalid": LIMIT // 2}


async def test_the_throttle_lifts_when_the_window_is_over(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    settings = make_settings(dsn, rate_limit={"auth_failures_per_window": 2, "auth_failure_window_s": 60})
    api = await start_api(aiohttp_client, settings, keys)
    failures = api.app[AUTH_FAILURES]
    t0 = 1_800_000_000.0  # a window start
    for _ in range(2):
        assert failures.retry_after("10.0.0.1", t0) == 0
        failures.failed("10.0.0.1", "invalid", "/v1/x", t0)
    assert failures.retry_after("10.0.0.1", t0 + 10) == 50
    assert failures.retry_after("10.0.0.2", t0 + 10) == 0  # another source is not held up
    assert failures.retry_after("10.0.0.1", t0 + 60) == 0  # a new window
    assert await failures.flush(t0 + 61) == 1  # the closed window's count
    assert await failures.flush(t0 + 62) == 0
