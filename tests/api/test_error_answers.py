"""Problem answers over HTTP carry the catalogue's entry: one status per code, the fix as ``hint``, the code's
own ``type`` URI; our own codes are never swallowed by a broad ``except``; a tampered record has its code."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from authsvc import error_codes
from authsvc.api.problem import type_uri
from authsvc.api.state import ENGINE
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import clients
from tests.conftest import individual, make_settings, start_api


def assert_problem(problem: dict[str, Any], code: error_codes.Code, status: int) -> None:
    assert problem["code"] == code and problem["status"] == status == code.status
    assert problem["title"] == code.heading and problem["hint"] == code.fix
    assert problem["type"] == type_uri(code) and problem["detail"]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_an_unknown_multipart_part_is_unknown_field_not_malformed_multipart(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    """api/liveness.py once caught its own unknown_field in a broad ``except ValueError`` (R-12.3 path)."""
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    client = await (await api.post("/v1/clients", individual())).json()
    ident = await (
        await api.post("/v1/identifications", {"client_id": client["id"], "operation": "registration"})
    ).json()
    form = aiohttp.FormData()
    form.add_field("challenge_id", "ch_1")
    form.add_field("nickname", b"x", filename="x.txt")  # a file part: the body is multipart
    resp = await api.client.post(f"/v1/identifications/{ident['id']}/liveness", data=form, headers=api.headers())
    assert resp.content_type == "application/problem+json"
    problem = await resp.json()
    assert resp.status == 422, problem
    assert_problem(problem, error_codes.UNKNOWN_FIELD, 422)
    assert "'nickname'" in problem["detail"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_tampered_client_record_answers_record_tampered(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    """A sealed record altered in the database (R-12.2): cryptography's InvalidTag is record_tampered, a 500
    with its own code and hint, not a generic internal_error; an intact record still reads."""
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    created = await (await api.post("/v1/clients", individual())).json()
    other = await (await api.post("/v1/clients", individual(iin="900101300017"))).json()
    engine = api.app[ENGINE]
    async with engine.begin() as conn:
        sealed = (await conn.execute(select(clients.c.pii_sealed).where(clients.c.id == created["id"]))).scalar_one()
        flipped = bytes(sealed[:-1]) + bytes([sealed[-1] ^ 0x01])
        await conn.execute(update(clients).where(clients.c.id == created["id"]).values(pii_sealed=flipped))
    resp = await api.get(f"/v1/clients/{created['id']}")
    problem = await resp.json()
    assert resp.status == 500, problem
    assert_problem(problem, error_codes.RECORD_TAMPERED, 500)
    assert problem["request_id"] == resp.headers["X-Request-Id"]
    assert (await api.get(f"/v1/clients/{other['id']}")).status == 200


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_answer_names_its_catalogue_entry(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    resp = await api.get("/v1/identifications/idn_missing")
    assert_problem(await resp.json(), error_codes.IDENTIFICATION_NOT_FOUND, 404)
    resp = await api.get("/v1/clients", key="wrong")
    assert_problem(await resp.json(), error_codes.UNAUTHORIZED, 401)
    resp = await api.client.post("/v1/clients", data=b"{", headers=api.headers(**{"Content-Type": "application/json"}))
    assert_problem(await resp.json(), error_codes.MALFORMED_JSON, 400)
    resp = await api.client.delete("/v1/clients", headers=api.headers())
    assert_problem(await resp.json(), error_codes.METHOD_NOT_ALLOWED, 405)
    resp = await api.post("/v1/clients", individual(photo={"content_type": "image/jpeg", "data": "not base64!"}))
    assert_problem(await resp.json(), error_codes.BAD_BASE64, 422)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_the_served_openapi_describes_the_catalogue(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    doc = await (await api.client.get("/openapi.json")).json()
    assert set(doc["components"]["x-error-codes"]) == set(error_codes.CATALOGUE)
    step = doc["paths"]["/v1/identifications/{identification_id}/liveness"]["post"]["responses"]
    assert "unknown_field" in step["422"]["x-error-codes"] and "capture_too_large" in step["413"]["x-error-codes"]
    assert "identification_closed" in step["409"]["x-error-codes"]
