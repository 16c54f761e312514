"""Cabinet passwords (R-6.5): set under the policy (deny list, no cap below 64, no personal data),
verified as a step of a login with no hint whether a password exists, and rehashed at the next
successful log-in once the argon2 parameters change."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import passwords
from tests.conftest import Api
from tests.methods.factorkit import PEOPLE, Parties, open_identification, register, start_parties, start_service

ARMAN = PEOPLE["arman"]
GOOD = "violet tractor sings at dawn"
CHEAP = {"argon2_memory_kib": 1024, "argon2_time_cost": 1}


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


async def login(api: Api, client: str, password: str) -> Any:
    ident = await open_identification(api, client, "login")
    return await api.post(f"/v1/identifications/{ident}/password", {"password": password})


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short1", "password_too_short"),
        ("password123", "password_common"),
        (f"my iin is {ARMAN.iin}", "password_contains_personal_data"),
        ("a" * 20, "password_repetitive"),
    ],
)
async def test_policy_refusals_are_named(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties, password: str, code: str
) -> None:
    api = await start_service(aiohttp_client, dsn, keys, parties, **CHEAP)
    client = await register(api, ARMAN)
    resp = await api.client.put(f"/v1/clients/{client}/password", json={"password": password}, headers=api.headers())
    assert resp.status == 422 and (await resp.json())["code"] == code


async def test_login_step_and_no_hint_whether_a_password_exists(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await start_service(aiohttp_client, dsn, keys, parties, **CHEAP)
    client = await register(api, ARMAN, identified=True)
    without = await login(api, client, GOOD)
    long_phrase = GOOD + " " + "x" * 100  # no cap below 64 characters
    resp = await api.client.put(f"/v1/clients/{client}/password", json={"password": long_phrase}, headers=api.headers())
    assert resp.status == 204
    wrong = await login(api, client, GOOD)
    assert without.status == wrong.status == 422
    assert (await without.json())["code"] == (await wrong.json())["code"] == "password_rejected"
    right = await login(api, client, long_phrase)
    assert right.status == 200 and (await right.json())["outcome"] == "passed"

    ident = await open_identification(api, client, "change_contact")
    other = await api.post(f"/v1/identifications/{ident}/password", {"password": long_phrase})
    assert other.status == 422 and (await other.json())["code"] == "wrong_operation"


async def test_changed_parameters_rehash_at_the_next_login(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    before = await start_service(aiohttp_client, dsn, keys, parties, **CHEAP)
    client = await register(before, ARMAN)
    put = await before.client.put(f"/v1/clients/{client}/password", json={"password": GOOD}, headers=before.headers())
    assert put.status == 204

    after = await start_service(aiohttp_client, dsn, keys, parties, argon2_memory_kib=2048, argon2_time_cost=2)
    after.key, after.lender_id = before.key, before.lender_id
    first = await login(after, client, GOOD)
    assert (await first.json())["details"] == {"rehashed": True}
    async with after.app[DB].autocommit() as conn:
        stored = await passwords.get(conn, client)
    assert stored is not None and "m=2048,t=2" in stored
    second = await login(after, client, GOOD)
    assert second.status == 200 and (await second.json())["details"] == {"rehashed": False}
