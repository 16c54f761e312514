"""A change of configuration between starts is audited by setting name, with secrets redacted."""

from __future__ import annotations

import json
from typing import Any

from authsvc.api.state import DB, KEYS
from authsvc.audit import records as audit
from authsvc.audit.chainer import chain_all
from authsvc.crypto.local_keys import LocalKeyStore
from tests.conftest import make_settings, start_api


async def events(api: Any, name: str) -> list[dict[str, Any]]:
    await chain_all(api.app[DB], api.app[KEYS])
    async with api.app[DB].autocommit() as conn:
        entries, _ = await audit.read_all(conn)
    return [json.loads(e.details) for e in entries if e.event == name]


async def test_config_changes_are_audited(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    first = await start_api(aiohttp_client, make_settings(dsn), keys)
    recorded = await events(first, "config.changed")
    assert len(recorded) == 1 and "rate_limit.window_s" in recorded[0]["changed"]  # first start: everything

    same = await start_api(aiohttp_client, make_settings(dsn), keys)
    assert len(await events(same, "config.changed")) == 1  # nothing changed, nothing recorded

    changed = await start_api(aiohttp_client, make_settings(dsn, rate_limit={"window_s": 30}), keys)
    recorded = await events(changed, "config.changed")
    assert len(recorded) == 2 and recorded[1]["changed"] == ["rate_limit.window_s"]
    # Values are recorded as `config explain` shows them: secrets redacted (tests/test_config.py).
    assert recorded[1]["settings"]["rate_limit.window_s"] == 30
