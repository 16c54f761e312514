"""The event loop never blocks (DESIGN §4): CPU-heavy work goes to the process pool.

asyncio's debug mode logs every callback that holds the loop longer than `slow_callback_duration`; a
registration whose photo goes through the face-quality check (≈150 ms of dlib work) must cause none.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from authsvc.crypto.local_keys import LocalKeyStore
from tests.conftest import b64, individual, make_settings, start_api
from tests.shared import fixture_path

SLOW_S = 0.05


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_face_check_does_not_block_the_loop(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(dsn, registry={"photo_face_check": True, "photo_quality": {"max_mouth_openness": 0.5}})
    api = await start_api(aiohttp_client, settings, keys)
    photo = {"content_type": "image/jpeg", "data": b64(fixture_path("faces", "alex_lacamoire_1.jpg").read_bytes())}
    assert (await api.post("/v1/clients", individual(photo=photo))).status == 201  # warm the worker (model load)
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_S
    caplog.set_level(logging.WARNING, logger="asyncio")
    try:
        resp, health = await asyncio.gather(
            api.post("/v1/clients", individual(iin="900101300017", photo=photo)),
            api.client.get("/healthz"),
        )
    finally:
        loop.set_debug(False)
    assert resp.status == 201 and health.status == 200
    slow = [r.getMessage() for r in caplog.records if r.name == "asyncio" and "took" in r.getMessage()]
    assert slow == [], slow
