"""An expired liveness script has its own code (``challenge_expired``), not ``challenge_used`` (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from authsvc.api.state import ENGINE
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import challenges
from tests.api.test_liveness_step import as_mp4, liveness_api, render, script_for, submit


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_expired_script_is_named_expired(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api, ident = await liveness_api(aiohttp_client, dsn, keys)
    challenge, script = await script_for(api, ident)
    video = as_mp4(render(script))
    # The script's lifetime ran out (as if the client uploaded after script_ttl_s).
    async with api.app[ENGINE].begin() as conn:
        await conn.execute(
            update(challenges)
            .where(challenges.c.id == challenge)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    resp = await submit(api, ident, challenge, video=video)
    assert resp.status == 409 and (await resp.json())["code"] == "challenge_expired"
