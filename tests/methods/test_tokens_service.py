"""TOTP authenticator apps and HOTP hardware tokens as second factors, through the service: enrolment,
RFC 6238 times on stored tokens, the ±1 step window with drift remembered, one use per code, hardware
tokens imported by serial and seed, the look-ahead window and resync with two codes."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authsvc.api.state import DB, FACTORS, KEYS
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.methods import tokens
from authsvc.methods.otp_codes import hotp, parse_base32_secret, totp
from authsvc.store import tokens as token_store
from tests.conftest import Api
from tests.methods.factorkit import PEOPLE, Parties, open_identification, register, start_parties, start_service

DATA = Path(__file__).parent / "data"
TOTP_DATA: dict[str, Any] = json.loads((DATA / "rfc6238_totp.json").read_text())
HOTP_DATA: dict[str, Any] = json.loads((DATA / "rfc4226_hotp.json").read_text())
HOTP_SEED = HOTP_DATA["secret_ascii"].encode()
HOTP_CODES = {v["counter"]: v["hotp"] for v in HOTP_DATA["vectors"]}
ARMAN = PEOPLE["arman"]


# The RFC vectors are checked one after another on one client: far more than a person tries in a minute.
@pytest.fixture
async def api(aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore) -> Api:
    parties: Parties = await start_parties(aiohttp_server)
    return await start_service(
        aiohttp_client, dsn, keys, parties, verify_free_failures=50, verify_limit_per_client=1000
    )


async def verify(api: Api, client: str, factor: str, code: str) -> int:
    """One code as the step of a fresh login (a right code completes its identification)."""
    ident = await open_identification(api, client)
    resp = await api.post(f"/v1/identifications/{ident}/otp/verify", {"factor": factor, "code": code})
    return int(resp.status)


async def test_totp_enrolment_confirmation_and_steps(api: Api) -> None:
    client = await register(api, ARMAN)
    enrolled = await api.post(f"/v1/clients/{client}/totp", {})
    assert enrolled.status == 201
    uri = (await enrolled.json())["otpauth_uri"]
    assert uri.startswith("otpauth://totp/") and ARMAN.iin not in uri and "7771234567" not in uri
    secret = parse_base32_secret(parse_qs(urlsplit(uri).query)["secret"][0])
    # The steps below are judged against the service's clock: start them early in a 30 s step, so that the
    # step does not change under them however slow the machine (a boundary crossed mid-test shifts the drift).
    if time.time() % 30 > 15:
        await asyncio.sleep(30.2 - time.time() % 30)
    now = time.time()

    assert await verify(api, client, "totp", totp(secret, now)) == 422  # not confirmed yet
    confirm = await api.post(f"/v1/clients/{client}/totp/confirm", {"code": totp(secret, now)})
    assert confirm.status == 200, await confirm.text()
    assert (await api.post(f"/v1/clients/{client}/totp", {})).status == 409  # one active authenticator

    assert await verify(api, client, "totp", totp(secret, now)) == 409  # the confirming code is spent: already used
    assert await verify(api, client, "totp", totp(secret, now + 30)) == 200  # a clock one step fast
    # The drift (+1 step) is remembered: two steps ahead is now inside the window.
    assert await verify(api, client, "totp", totp(secret, now + 60)) == 200
    async with api.app[DB].autocommit() as conn:
        token = await token_store.of_client(conn, api.app[KEYS], api.lender_id, client, "totp")
    assert token is not None and token.drift == 2 and token.status == "active"


async def test_stored_tokens_verify_the_rfc6238_times(api: Api) -> None:
    assert api.app[FACTORS] is not None
    client = await register(api, ARMAN)
    for vector in TOTP_DATA["vectors"]:
        async with api.app[DB].transaction() as conn:
            await token_store.drop_pending(conn, api.lender_id, client, "totp")
            await token_store.create(
                conn,
                api.app[KEYS],
                lender_id=api.lender_id,
                client_id=client,
                kind="totp",
                secret=TOTP_DATA["seeds_ascii"][vector["algorithm"]].encode(),
                algorithm=vector["algorithm"],
                digits=8,
            )

            async def check(code: str, at: float = vector["time"]) -> bool:
                result = await tokens.verify_token(
                    conn,
                    api.app[KEYS],
                    api.app[FACTORS],
                    kind="totp",
                    lender_id=api.lender_id,
                    client_id=client,
                    code=code,
                    at=at,
                    confirming=True,
                )
                return result.ok

            assert await check(vector["totp"]), vector
            assert not await check(vector["totp"]), vector  # once only
            assert not await check(vector["totp"], vector["time"] + 90), vector  # three steps later


async def test_hardware_token_look_ahead_replay_and_resync(api: Api) -> None:
    client = await register(api, ARMAN)
    imported = await api.post("/v1/tokens", {"serial": "HW-0001", "seed_hex": HOTP_SEED.hex()})
    assert imported.status == 201, await imported.text()
    again = await api.post("/v1/tokens", {"serial": "HW-0001", "seed_hex": HOTP_SEED.hex()})
    assert again.status == 409 and (await again.json())["code"] == "token_exists"
    assert (await api.post("/v1/tokens/HW-0001/assign", {"client_id": client})).status == 200
    assert (await api.post("/v1/tokens/HW-0001/assign", {"client_id": client})).status == 409

    assert await verify(api, client, "hotp", HOTP_CODES[0]) == 200
    assert await verify(api, client, "hotp", HOTP_CODES[0]) == 409  # replay: already used (issue 11.7)
    assert await verify(api, client, "hotp", HOTP_CODES[5]) == 200  # presses lost in between
    assert await verify(api, client, "hotp", HOTP_CODES[3]) == 422  # behind the counter now
    far = [hotp(HOTP_SEED, c) for c in (40, 41, 42)]
    assert await verify(api, client, "hotp", far[0]) == 422  # beyond the look-ahead of 10
    bad = await api.post("/v1/tokens/HW-0001/resync", {"first": far[1], "second": far[0]})
    assert bad.status == 422 and (await bad.json())["code"] == "token_resync_failed"
    assert (await api.post("/v1/tokens/HW-0001/resync", {"first": far[0], "second": far[1]})).status == 200
    assert await verify(api, client, "hotp", far[1]) == 409  # the resync codes are spent: already used
    assert await verify(api, client, "hotp", far[2]) == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"serial": "S1", "seed_hex": "00" * 10}, "otp_key_too_short"),
        ({"serial": "S1", "seed_hex": "zz"}, "otp_bad_secret"),
        ({"serial": "S1"}, "token_seed_missing"),
        ({"serial": "S1", "seed_base32": "!!!!"}, "otp_bad_secret"),
    ],
)
async def test_bad_token_imports_are_named(api: Api, body: dict[str, Any], code: str) -> None:
    resp = await api.post("/v1/tokens", body)
    assert resp.status == 422 and (await resp.json())["code"] == code


async def test_answers_do_not_reveal_whether_the_client_holds_a_token(api: Api) -> None:
    holder = await register(api, ARMAN)
    assert (await api.post("/v1/tokens", {"serial": "HW-9", "seed_hex": HOTP_SEED.hex()})).status == 201
    assert (await api.post("/v1/tokens/HW-9/assign", {"client_id": holder})).status == 200
    without = await register(api, PEOPLE["dana"])
    for code, expected in (("12345678", "otp_rejected"), ("000000", "otp_rejected"), ("12ab56", "otp_malformed")):
        answers = []
        for client in (holder, without):
            ident = await open_identification(api, client)
            resp = await api.post(f"/v1/identifications/{ident}/otp/verify", {"factor": "hotp", "code": code})
            answers.append((resp.status, (await resp.json())["code"]))
        assert answers == [(422, expected)] * 2, code
