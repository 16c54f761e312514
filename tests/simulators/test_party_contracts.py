"""The wire contracts of the telco, bureau, bank and CDAO simulators, as raw HTTP."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from simulators.bank.app import create_app as bank_app
from simulators.bureau.app import create_app as bureau_app
from simulators.cdao.app import create_app as cdao_app
from simulators.population import COMPANY_BIN, build_population
from simulators.telco.app import create_app as telco_app
from tests.shared import fixture_path

PEOPLE = build_population()


async def test_telco_answer_fields(aiohttp_client: Any) -> None:
    client = await aiohttp_client(telco_app(population=PEOPLE))
    dana = PEOPLE["dana"]
    resp = await client.post("/v1/subscriber/check", json={"iin": dana.iin, "phone": "8 701 234 56 78"})
    body = await resp.json()
    assert resp.status == 200
    assert set(body) == {"match", "registered_to_individual", "operator", "sim_issued_at", "owner_since", "checked_at"}
    assert body["match"] and body["operator"] == "Kcell"
    assert datetime.fromisoformat(body["sim_issued_at"]) == dana.phone.sim_issued_at
    bad = await client.post("/v1/subscriber/check", json={"iin": dana.iin, "phone": "+7 727 000 00 00"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_number"


async def test_bureau_contract(aiohttp_client: Any) -> None:
    client = await aiohttp_client(bureau_app(population=PEOPLE))
    assert (await client.get("/v1/refusals/123456789011")).status == 400
    report = {
        "application_id": "a-1",
        "iin": PEOPLE["arman"].iin,
        "lender_bin": COMPANY_BIN,
        "amount": 50_000,
        "currency": "KZT",
        "channel": "online",
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    first = await client.post("/v1/applications", json=report)
    again = await client.post("/v1/applications", json=report)
    assert (first.status, again.status) == (201, 200)
    assert await first.json() == await again.json()
    stored = await (await client.get("/v1/applications/a-1")).json()
    assert stored["amount"] == 50_000 and stored["status"] == "registered"
    assert (await client.get("/v1/applications/a-2")).status == 404
    for field, value, code in [
        ("amount", 0, "bad_amount"),
        ("amount", 1.5, "bad_amount"),
        ("currency", "USD", "bad_currency"),
        ("lender_bin", "123456789021", "invalid_bin"),
        ("submitted_at", "yesterday", "bad_timestamp"),
        ("channel", "fax", "bad_channel"),
    ]:
        resp = await client.post("/v1/applications", json=report | {"application_id": "a-3", field: value})
        assert resp.status == 400 and (await resp.json())["error"]["code"] == code, field


async def test_bank_contract(aiohttp_client: Any) -> None:
    client = await aiohttp_client(bank_app(population=PEOPLE))
    arman = PEOPLE["arman"]
    resp = await client.post("/v1/accounts/verify", json={"iin": arman.iin, "iban": "kz18 722S 0000 1234 5678"})
    assert await resp.json() == {"owner_match": True, "instrument_found": True, "status": "active", "kind": "account"}
    none = await client.post("/v1/accounts/verify", json={"iin": arman.iin})
    assert none.status == 400 and (await none.json())["error"]["code"] == "one_instrument"


@pytest.fixture
async def cdao(aiohttp_client: Any) -> Any:
    return await aiohttp_client(cdao_app(faces_dir=fixture_path("faces"), matcher="hash", population=PEOPLE))


def b64(name: str) -> str:
    return base64.b64encode(fixture_path("faces", name).read_bytes()).decode()


async def test_cdao_hash_register_contract(cdao: Any) -> None:
    arman = PEOPLE["arman"]
    same = await cdao.post("/v1/biometric/verify", json={"iin": arman.iin, "image_base64": b64("obama_5_small.jpg")})
    body = await same.json()
    assert body["match"] and body["method"] == "exact_hash" and body["score"] == 1.0
    other = await cdao.post("/v1/biometric/verify", json={"iin": arman.iin, "image_base64": b64("biden_2.jpg")})
    assert not (await other.json())["match"]
    junk = await cdao.post("/v1/biometric/verify", json={"iin": arman.iin, "image_base64": "aGVsbG8="})
    assert junk.status == 422 and (await junk.json())["error"]["reason"] == "undecodable"
    bad = await cdao.post("/v1/biometric/verify", json={"iin": arman.iin, "image_base64": "***"})
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_base64"
    nophoto = await cdao.post("/v1/biometric/verify", json={"iin": PEOPLE["dana"].iin, "image_base64": "aGVsbG8="})
    assert nophoto.status == 404 and (await nophoto.json())["error"]["code"] == "no_photo_on_file"


def test_cdao_refuses_to_start_without_the_state_photos(tmp_path: Any) -> None:
    with pytest.raises(FileNotFoundError, match=r"obama_1\.jpg"):
        cdao_app(faces_dir=tmp_path, matcher="hash")
