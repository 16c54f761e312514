"""The API-key cache (`security.api_key_cache_s`, `authsvc.api.middlewares.LenderCache`): a disabled key is
refused once its cached verdict expires, never later; a wrong secret beside a cached right key is refused at
once (the cache holds whole keys, not key ids)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import lenders
from tests.conftest import make_settings, start_api

NOWHERE = "/v1/clients/00000000-0000-4000-8000-000000000000"
CACHE_S = 0.5


async def test_a_disabled_key_is_refused_within_the_cache_time(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn, security={"api_key_cache_s": CACHE_S}), keys)
    assert (await api.get(NOWHERE)).status == 404  # authenticated, and now cached
    wrong = api.key[:-4] + ("AAAA" if not api.key.endswith("AAAA") else "BBBB")  # its key id, another secret
    assert (await api.get(NOWHERE, key=wrong)).status == 401
    async with api.app[DB].transaction() as tx:
        await tx.run(update(lenders).where(lenders.c.id == api.lender_id).values(disabled_at=datetime.now(UTC)))
    await asyncio.sleep(CACHE_S + 0.1)
    resp = await api.get(NOWHERE)
    assert resp.status == 401, await resp.text()
