"""The token lifecycle a lender needs (issue 16.2), each operation over HTTP on both databases: disable and
enable, revoke, unassign, lost with a temporary authenticator, authenticator reset through a completed
identification, and bulk import from PSKC files (RFC 6030's own examples) with the seeds sealed at rest."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, text, update

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.methods.otp_codes import hotp, parse_base32_secret, totp
from authsvc.store.schema import otp_tokens, sms_outbox
from tests.conftest import Api
from tests.flowkit import PROFILE, registered
from tests.methods.factorkit import PEOPLE, Parties, open_identification, register, start_parties, start_service
from tests.methods.test_factor_bound import events

DATA = Path(__file__).parent / "data"
ARMAN, DANA = PEOPLE["arman"], PEOPLE["dana"]
SEED = b"12345678901234567890"  # RFC 4226's, and the secret of RFC 6030's examples
PRE_SHARED = "12345678901234567890123456789012"  # RFC 6030 §6.1


@pytest.fixture
async def api(aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore) -> Api:
    parties: Parties = await start_parties(aiohttp_server)
    return await start_service(
        aiohttp_client, dsn, keys, parties, verify_free_failures=50, verify_limit_per_client=1000
    )


# A right code completes its login: the next try of the same client goes to a fresh login of theirs.
_LATEST: dict[str, str] = {}


async def _open_login(api: Api, ident: str) -> str:
    current = _LATEST.get(ident, ident)
    state = await (await api.get(f"/v1/identifications/{current}")).json()
    if state["status"] != "pending":
        current = _LATEST[ident] = await open_identification(api, state["client_id"])
    return current


async def verify(api: Api, ident: str, factor: str, code: str) -> int:
    current = await _open_login(api, ident)
    resp = await api.post(f"/v1/identifications/{current}/otp/verify", {"factor": factor, "code": code})
    return int(resp.status)


async def act(api: Api, client: str, token: str, action: str, body: Any = None) -> Any:
    return await api.post(f"/v1/clients/{client}/tokens/{token}/{action}", body)


async def tokens_of(api: Api, client: str) -> list[tuple[str, str]]:
    listed = await (await api.get(f"/v1/clients/{client}/factors")).json()
    return [(t["kind"], t["status"]) for t in listed["tokens"]]


def secret_of(uri: str) -> bytes:
    return parse_base32_secret(parse_qs(urlsplit(uri).query)["secret"][0])


async def test_disable_enable_unassign_and_revoke_a_hardware_token(api: Api) -> None:
    arman, dana = await register(api, ARMAN), await register(api, DANA)
    created = await api.post("/v1/tokens", {"serial": "HW-7", "seed_hex": SEED.hex()})
    token = (await created.json())["token_id"]
    assert (await api.post("/v1/tokens/HW-7/assign", {"client_id": arman})).status == 200
    ident = await open_identification(api, arman)

    moved = await act(api, arman, token, "disable")
    assert moved.status == 200 and await moved.json() == {"token_id": token, "status": "disabled"}
    assert await tokens_of(api, arman) == [("hotp", "disabled")]
    assert await verify(api, ident, "hotp", hotp(SEED, 0)) == 422  # a disabled token verifies nothing
    again = await act(api, arman, token, "disable")
    assert again.status == 409 and (await again.json())["code"] == "token_wrong_state"
    assert (await act(api, arman, token, "enable")).status == 200
    assert await verify(api, ident, "hotp", hotp(SEED, 0)) == 200

    # Unassigned, it goes back to the lender's stock and can be given to another client, counter kept.
    assert (await act(api, arman, token, "unassign")).status == 200
    assert await tokens_of(api, arman) == []
    assert (await api.post("/v1/tokens/HW-7/assign", {"client_id": dana})).status == 200
    dana_ident = await open_identification(api, dana)
    assert await verify(api, dana_ident, "hotp", hotp(SEED, 0)) == 409  # used by Arman already
    assert await verify(api, dana_ident, "hotp", hotp(SEED, 1)) == 200
    # Another client's path does not reach it.
    assert (await act(api, arman, token, "revoke")).status == 404

    assert (await act(api, dana, token, "revoke")).status == 200
    assert await verify(api, dana_ident, "hotp", hotp(SEED, 2)) == 422
    for action in ("enable", "unassign", "disable"):
        refused = await act(api, dana, token, action)
        assert (refused.status, (await refused.json())["code"]) == (409, "token_wrong_state"), action
    for event in ("token.disabled", "token.enabled", "token.unassigned", "token.revoked"):
        assert await events(api, event), event


async def test_a_lost_token_gets_a_temporary_authenticator_that_expires(api: Api) -> None:
    client = await register(api, ARMAN)
    token = (await (await api.post("/v1/tokens", {"serial": "HW-L", "seed_hex": SEED.hex()})).json())["token_id"]
    assert (await api.post("/v1/tokens/HW-L/assign", {"client_id": client})).status == 200
    lost = await act(api, client, token, "lost", {"replace": True})
    assert lost.status == 200, await lost.text()
    body = await lost.json()
    assert body["status"] == "lost" and body["replacement"]["otpauth_uri"].startswith("otpauth://totp/")
    until = datetime.fromisoformat(body["replacement"]["expires_at"])
    assert timedelta(days=6) < until - datetime.now(UTC) <= timedelta(days=7)
    ident = await open_identification(api, client)
    assert await verify(api, ident, "hotp", hotp(SEED, 0)) == 422  # lost: never again
    assert (await act(api, client, token, "enable")).status == 409

    secret, now = secret_of(body["replacement"]["otpauth_uri"]), time.time()
    confirm = await api.post(f"/v1/clients/{client}/totp/confirm", {"code": totp(secret, now)})
    assert confirm.status == 200, await confirm.text()
    assert await verify(api, ident, "totp", totp(secret, now + 30)) == 200
    # Past its end the temporary authenticator verifies nothing.
    async with api.app[DB].transaction() as tx:
        await tx.run(
            update(otp_tokens)
            .where(otp_tokens.c.id == body["replacement"]["token_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert await verify(api, ident, "totp", totp(secret, now + 60)) == 422
    assert await events(api, "token.lost")


async def test_resetting_the_authenticator_takes_a_completed_identification_once(api: Api) -> None:
    client = await register(api, ARMAN)
    enrolled = await (await api.post(f"/v1/clients/{client}/totp", {})).json()
    old, now = secret_of(enrolled["otpauth_uri"]), time.time()
    assert (await api.post(f"/v1/clients/{client}/totp/confirm", {"code": totp(old, now)})).status == 200

    token = await registered(api, client)  # first; then a factor_reset identification
    contact = await token.complete("change_contact")  # another operation's identification does not reset
    refused = await api.post(f"/v1/clients/{client}/totp/reset", {"identification_id": contact})
    assert (refused.status, (await refused.json())["code"]) == (409, "identification_not_usable")
    body = {"client_id": client, "operation": "factor_reset", "profile": PROFILE}
    open_one = (await (await api.post("/v1/identifications", body)).json())["id"]
    refused = await api.post(f"/v1/clients/{client}/totp/reset", {"identification_id": open_one})
    assert (refused.status, (await refused.json())["code"]) == (409, "identification_not_usable")
    pending = await token.complete("factor_reset")  # completed through the flow
    reset = await api.post(f"/v1/clients/{client}/totp/reset", {"identification_id": pending})
    assert reset.status == 201, await reset.text()
    new = secret_of((await reset.json())["otpauth_uri"])
    assert new != old
    again = await api.post(f"/v1/clients/{client}/totp/reset", {"identification_id": pending})
    assert (await again.json())["code"] == "identification_not_usable"  # used once

    ident = await open_identification(api, client)
    assert await verify(api, ident, "totp", totp(old, now + 30)) == 422  # the old app is revoked
    assert (await api.post(f"/v1/clients/{client}/totp/confirm", {"code": totp(new, now)})).status == 200
    assert await verify(api, ident, "totp", totp(new, now + 30)) == 200
    assert await events(api, "totp.reset") == [client]
    assert await events(api, "identification.consumed") == [pending]


async def test_a_reset_lifts_a_suspended_authenticator_audited_and_told(api: Api) -> None:
    """Issue 16.1: a suspension ends only audited and told to the client, a reset included."""
    client = await register(api, ARMAN)
    token = await registered(api, client)
    enrolled = await (await api.post(f"/v1/clients/{client}/totp", {})).json()
    old, now = secret_of(enrolled["otpauth_uri"]), time.time()
    assert (await api.post(f"/v1/clients/{client}/totp/confirm", {"code": totp(old, now)})).status == 200
    ident = await open_identification(api, client)
    wrong = f"{(int(totp(old, now)) + 1) % 10**6:06d}"
    answers = [await verify(api, ident, "totp", wrong) for _ in range(12)]
    assert answers == [422] * 10 + [409] * 2  # the default bound, then factor_suspended
    assert await events(api, "factor.suspended") == [client]

    reset = await api.post(
        f"/v1/clients/{client}/totp/reset", {"identification_id": await token.complete("factor_reset")}
    )
    assert reset.status == 201, await reset.text()
    assert await events(api, "factor.reinstated") == [client]
    async with api.app[DB].engine.connect() as conn:
        told = await conn.execute(select(func.count()).where(sms_outbox.c.kind == "notify_factor"))
        assert told.scalar_one() == 2  # suspended, then reinstated
    new = secret_of((await reset.json())["otpauth_uri"])
    assert (await api.post(f"/v1/clients/{client}/totp/confirm", {"code": totp(new, now)})).status == 200
    assert await verify(api, ident, "totp", totp(new, now + 30)) == 200


async def test_pskc_import_of_the_rfc_6030_examples_with_seeds_sealed_at_rest(api: Api, dsn: str) -> None:
    basic = (DATA / "pskc_rfc6030_s4_basic.xml").read_text()
    encrypted = (DATA / "pskc_rfc6030_s6_1_preshared.xml").read_text()
    missing = await api.post("/v1/tokens/pskc", {"document": encrypted})
    assert (missing.status, (await missing.json())["code"]) == (422, "pskc_key_rejected")
    wrong = await api.post("/v1/tokens/pskc", {"document": encrypted, "pre_shared_key_hex": "00" * 16})
    assert (wrong.status, (await wrong.json())["code"]) == (422, "pskc_key_rejected")  # the MAC does not match
    hostile = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>' + basic.split("?>", 1)[1]
    refused = await api.post("/v1/tokens/pskc", {"document": hostile})
    assert (refused.status, (await refused.json())["code"]) == (422, "pskc_invalid")
    junk = await api.post("/v1/tokens/pskc", {"document": "<KeyContainer/>"})
    assert (junk.status, (await junk.json())["code"]) == (422, "pskc_invalid")

    first = await api.post("/v1/tokens/pskc", {"document": basic})
    assert first.status == 201, await first.text()
    assert [(i["serial"], i["kind"]) for i in (await first.json())["imported"]] == [("12345678", "hotp")]
    second = await api.post("/v1/tokens/pskc", {"document": encrypted, "pre_shared_key_hex": PRE_SHARED})
    assert second.status == 201, await second.text()
    assert [(i["serial"], i["kind"]) for i in (await second.json())["imported"]] == [("987654321", "hotp")]
    twice = await api.post("/v1/tokens/pskc", {"document": basic})
    assert (twice.status, (await twice.json())["code"]) == (409, "token_exists")
    assert await events(api, "tokens.imported")

    # The seed is nowhere readable at rest: not in any column of any token row, nor in the database file.
    forms = [SEED, SEED.hex().encode(), base64.b64encode(SEED), base64.b32encode(SEED).rstrip(b"=")]
    async with api.app[DB].engine.connect() as conn:
        rows = (await conn.execute(text("SELECT * FROM otp_tokens"))).all()
    assert len(rows) == 2
    cells = [bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for r in rows for v in r]
    assert not any(form in cell for form in forms for cell in cells)
    if dsn.startswith("sqlite"):
        raw = await asyncio.to_thread(Path(dsn.removeprefix("sqlite:///")).read_bytes)
        assert not any(form in raw for form in forms)

    # The imported tokens work: the §6.1 one gives 8-digit codes from counter 0.
    client = await register(api, ARMAN)
    assert (await api.post("/v1/tokens/987654321/assign", {"client_id": client})).status == 200
    ident = await open_identification(api, client)
    assert await verify(api, ident, "hotp", hotp(SEED, 0, digits=8)) == 200
