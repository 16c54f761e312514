"""The registration photo's face is judged (R-6.1) with the liveness quality check, in the process pool."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.crypto.local_keys import LocalKeyStore
from tests.conftest import b64, individual, jpeg, make_settings, start_api
from tests.shared import fixture_path


def photo(name: str) -> dict[str, str]:
    data = fixture_path("faces", name).read_bytes()
    return {"content_type": "image/png" if name.endswith(".png") else "image/jpeg", "data": b64(data)}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_registration_photo_face_is_judged(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    # alex_lacamoire_1 is a frontal studio portrait on a light background, but smiling with the mouth open.
    settings = make_settings(dsn, registry={"photo_face_check": True})
    api = await start_api(aiohttp_client, settings, keys)

    async def refused(body: dict[str, Any]) -> set[str]:
        resp = await api.post("/v1/clients", body)
        problem = await resp.json()
        assert resp.status == 422 and problem["code"] == "photo_rejected", problem
        return {e["code"] for e in problem["errors"]}

    assert await refused(individual(photo={"content_type": "image/jpeg", "data": b64(jpeg())})) == {"no_face"}
    assert "multiple_faces" in await refused(individual(photo=photo("obama_and_biden.jpg")))
    assert await refused(individual(photo=photo("alex_lacamoire_1.jpg"))) == {"mouth_open"}


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_limits_are_settings(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    settings = make_settings(dsn, registry={"photo_face_check": True, "photo_quality": {"max_mouth_openness": 0.5}})
    api = await start_api(aiohttp_client, settings, keys)
    resp = await api.post("/v1/clients", individual(photo=photo("alex_lacamoire_1.jpg")))
    assert resp.status == 201, await resp.text()
