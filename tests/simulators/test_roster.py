"""GET /population on every party simulator, the README's population table, and each person's rendered
registration photo: compliant with R-6.1 through the service's own registration (face check on, default
limits), and matched (or, for timur, refused) by the CDAO simulator's real face matcher (R-7.2)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from authsvc.crypto.local_keys import LocalKeyStore
from simulators.bank.app import create_app as bank_app
from simulators.bureau.app import create_app as bureau_app
from simulators.cdao.app import create_app as cdao_app
from simulators.population import Person, build_population
from simulators.roster import describe, markdown_table, photo_of
from simulators.sms.app import create_app as sms_app
from simulators.telco.app import create_app as telco_app
from tests.conftest import make_settings, start_api
from tests.shared import REPO_ROOT, fixture_path

PEOPLE = build_population()
PARTIES: dict[str, Callable[[], web.Application]] = {
    "telco": lambda: telco_app(population=PEOPLE),
    "bank": lambda: bank_app(population=PEOPLE),
    "bureau": lambda: bureau_app(population=PEOPLE),
    "sms": lambda: sms_app(population=PEOPLE),
    "cdao": lambda: cdao_app(faces_dir=fixture_path("faces"), matcher="hash", population=PEOPLE),
}


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    """Every person's photo, rendered once for the module (a few seconds each)."""
    return {p.key: photo_of(p, fixture_path()) for p in PEOPLE.people}


@pytest.mark.parametrize("party", sorted(PARTIES))
async def test_every_party_lists_the_same_population(aiohttp_client: Any, party: str) -> None:
    client = await aiohttp_client(PARTIES[party]())
    resp = await client.get("/population")
    assert resp.status == 200
    listing = (await resp.json())["people"]
    assert listing == [describe(p) for p in PEOPLE.people]
    assert [p["iin"] for p in listing] == [p.iin for p in PEOPLE.people]
    one = await client.get(f"/population/{PEOPLE['arman'].iin}")
    assert (await one.json())["key"] == "arman"
    missing = await client.get("/population/811201401188")
    assert missing.status == 404 and (await missing.json())["error"]["code"] == "person_not_found"


async def test_what_the_listing_says_is_what_the_parties_answer(aiohttp_client: Any) -> None:
    telco = await aiohttp_client(PARTIES["telco"]())
    bank = await aiohttp_client(PARTIES["bank"]())
    bureau = await aiohttp_client(PARTIES["bureau"]())
    for person in PEOPLE.people:
        said = describe(person)
        answer = await (
            await telco.post("/v1/subscriber/check", json={"iin": person.iin, "phone": person.phone.number})
        ).json()
        assert {k: answer[k] for k in said["telco"]} == said["telco"], person.key
        refusal = await (await bureau.get(f"/v1/refusals/{person.iin}")).json()
        assert refusal["refusal"] == said["bureau"]["refusal"], person.key
        for account in said["bank"]["accounts"]:
            owned = await (
                await bank.post("/v1/accounts/verify", json={"iin": person.iin, "iban": account["iban"]})
            ).json()
            assert owned["owner_match"] and owned["status"] == account["status"], person.key
        for card in said["bank"]["cards"]:
            for field, value in (("card_number", card["number"]), ("card_token", card["token"])):
                owned = await (await bank.post("/v1/accounts/verify", json={"iin": person.iin, field: value})).json()
                assert owned["owner_match"] and owned["status"] == card["status"], (person.key, field)


def test_readme_table_is_the_data() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert markdown_table(PEOPLE) in readme, "regenerate it: python -m simulators.roster table"


def test_photos_are_rendered_not_copied(photos: dict[str, bytes]) -> None:
    sources = {fixture_path(p.portrait).read_bytes() for p in PEOPLE.people}
    for key, data in photos.items():
        assert data.startswith(b"\xff\xd8\xff") and data not in sources, key
    assert len(set(photos.values())) == len(photos)


async def test_the_photo_endpoint_serves_the_rendered_photo(aiohttp_client: Any, photos: dict[str, bytes]) -> None:
    client = await aiohttp_client(PARTIES["telco"]())
    resp = await client.get(f"/population/{PEOPLE['arman'].iin}/photo")
    assert (resp.status, resp.content_type) == (200, "image/jpeg")
    assert await resp.read() == photos["arman"]  # deterministic: the same bytes however it is asked for


def registration(person: Person, photo: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "individual",
        "surname": person.surname,
        "first_name": person.first_name,
        "patronymic": person.patronymic,
        "iin": person.iin,
        "id_document": {"type": "id_card", "number": "041234567", "expires_on": "2031-05-01"},
        "phone": person.phone.number,
        "photo": {"content_type": "image/jpeg", "data": base64.b64encode(photo).decode()},
    }
    if person.accounts:
        body["bank_account"] = {"iban": person.accounts[0].iban}
    if person.cards:
        body["card"] = {"number": person.cards[0].pan}
    return body


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_every_person_registers_with_the_face_check_on(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, photos: dict[str, bytes]
) -> None:
    settings = make_settings(dsn, registry={"photo_face_check": True}, server={"process_workers": 1})
    api = await start_api(aiohttp_client, settings, keys)
    for person in PEOPLE.people:
        resp = await api.post("/v1/clients", registration(person, photos[person.key]))
        assert resp.status == 201, (person.key, await resp.text())


async def test_the_cdao_matches_the_rendered_photo(aiohttp_client: Any, photos: dict[str, bytes]) -> None:
    cdao = await aiohttp_client(cdao_app(faces_dir=fixture_path("faces"), matcher="face", population=PEOPLE))
    for person in PEOPLE.people:
        body = {"iin": person.iin, "image_base64": base64.b64encode(photos[person.key]).decode()}
        resp = await cdao.post("/v1/biometric/verify", json=body)
        answer = await resp.json()
        said = describe(person)["cdao"]
        if not said["photo_on_file"]:
            assert resp.status == 404 and answer["error"]["code"] == "no_photo_on_file", person.key
            continue
        assert resp.status == 200, answer
        assert answer["match"] is said["registration_photo_matches"], (person.key, answer)
    await asyncio.sleep(0)
