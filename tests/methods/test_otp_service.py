"""SMS one-time codes as identification steps, end to end against the SMS gateway simulators:
the code the gateway recorded verifies once, replays and wrong codes are answered alike, tries and
resends are limited, wrong answers slow the guesser down without locking the client out, and a slow
or broken gateway never holds up the request."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import aiohttp
import pytest

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import outbox
from authsvc.store.db import Database
from tests.conftest import Api
from tests.methods.factorkit import (
    PEOPLE,
    Parties,
    arm,
    clear,
    messages,
    open_identification,
    register,
    sent_code,
    start_parties,
    start_service,
)

ARMAN, TIMUR = PEOPLE["arman"], PEOPLE["timur"]


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


async def service(aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties, **factors: Any) -> Api:
    return await start_service(aiohttp_client, dsn, keys, parties, **factors)


async def send(api: Api, ident: str, **body: Any) -> Any:
    return await api.post(f"/v1/identifications/{ident}/otp", body)


async def verify(api: Api, ident: str, code: str, **body: Any) -> Any:
    return await api.post(f"/v1/identifications/{ident}/otp/verify", {"code": code, **body})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_code_sent_by_sms_verifies_once_and_records_the_step(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    client = await register(api, ARMAN)
    ident = await open_identification(api, client)

    resp = await send(api, ident)
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["phone"] == "+7777*****67" and body["channel"] == "sms"
    code = await sent_code(parties, ARMAN.phone.number)

    ok = await verify(api, ident, code)
    assert ok.status == 200, await ok.text()
    assert (await ok.json())["outcome"] == "passed"
    assert (await ok.json())["identification_status"] == "completed"  # the login needs one factor
    replay = await verify(api, ident, code)
    assert replay.status == 409  # a completed identification takes no more steps
    assert (await replay.json())["code"] == "identification_closed"

    state = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert [(s["method"], s["outcome"]) for s in state["steps"]] == [("otp_sms", "passed")]
    assert state["status"] == "completed"


async def test_code_is_stored_only_as_a_keyed_hash_and_the_outbox_is_sealed(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    ident = await open_identification(api, await register(api, ARMAN))
    assert (await send(api, ident)).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    from sqlalchemy import text

    async with api.app[DB].engine.connect() as conn:
        codes = [tuple(map(str, r)) for r in (await conn.execute(text("SELECT * FROM otp_codes"))).all()]
        boxes = [r for r in (await conn.execute(text("SELECT payload_sealed FROM sms_outbox"))).scalars()]
    assert codes and not any(code in field for row in codes for field in row)
    assert boxes and not any(code.encode() in bytes(b) or b"7771234567" in bytes(b) for b in boxes)


async def test_code_of_one_identification_does_not_verify_another(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    client = await register(api, ARMAN)
    first, second = await open_identification(api, client), await open_identification(api, client)
    assert (await send(api, first)).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    assert (await verify(api, second, code)).status == 422
    assert (await verify(api, first, code)).status == 200


async def test_tries_per_code_are_limited(aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties) -> None:
    api = await service(aiohttp_client, dsn, keys, parties, otp_max_attempts=3, verify_free_failures=10)
    ident = await open_identification(api, await register(api, ARMAN))
    assert (await send(api, ident)).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    for _ in range(3):
        assert (await verify(api, ident, wrong(code))).status == 422
    late = await verify(api, ident, code)  # the right code, after the tries ran out
    assert late.status == 422 and (await late.json())["code"] == "otp_rejected"


async def test_a_new_code_retires_the_previous_one_and_resends_wait_for_the_cooldown(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties, otp_resend_cooldown_s=60)
    ident = await open_identification(api, await register(api, ARMAN))
    assert (await send(api, ident)).status == 202
    again = await send(api, ident)
    assert again.status == 429
    assert (await again.json())["code"] == "otp_resend_too_soon"
    assert 0 < int(again.headers["Retry-After"]) <= 60


@pytest.mark.parametrize("scope", ["client", "phone", "ip", "lender"])
async def test_sending_is_capped_per_client_phone_ip_and_lender(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties, scope: str
) -> None:
    # Only the scope under test repeats across the three sends; its cap is 2, the others' are high.
    caps = {f"send_limit_per_{s}": 2 if s == scope else 100 for s in ("client", "phone", "ip", "lender")}
    api = await service(aiohttp_client, dsn, keys, parties, **caps)
    people = [ARMAN, PEOPLE["dana"], PEOPLE["nurlan"]]
    if scope == "client":
        clients = [await register(api, ARMAN)] * 3
    else:
        phone = ARMAN.phone.number
        clients = [
            await register(api, replace(p, phone=replace(p.phone, number=phone)) if scope == "phone" else p)
            for p in people
        ]
    answers = []
    for n, client in enumerate(clients):
        ip = "192.0.2.1" if scope == "ip" else f"192.0.2.{10 + n}"
        answers.append(await send(api, await open_identification(api, client), client_ip=ip))
    assert [a.status for a in answers] == [202, 202, 429]
    assert (await answers[2].json())["code"] == "otp_send_limited"
    assert int(answers[2].headers["Retry-After"]) > 0


# Per lender, verifications are capped by the lender's API rate limit (tests/api/test_rate_limiter.py).
@pytest.mark.parametrize("scope", ["ip", "client"])
async def test_verifying_is_capped_per_ip_client_and_lender(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties, scope: str
) -> None:
    # Only the scope under test repeats across the verifications; its cap is 3, the others' are high.
    caps = {f"verify_limit_per_{s}": 3 if s == scope else 100 for s in ("ip", "client")}
    api = await service(aiohttp_client, dsn, keys, parties, otp_max_attempts=10, verify_free_failures=10, **caps)
    people = [ARMAN, PEOPLE["dana"], PEOPLE["nurlan"], PEOPLE["aigerim"]]
    clients = [await register(api, ARMAN)] * 4 if scope == "client" else [await register(api, p) for p in people]
    answers = []
    for n, client in enumerate(clients):
        ident = await open_identification(api, client)
        ip = "192.0.2.1" if scope == "ip" else f"192.0.2.{10 + n}"
        answers.append(await verify(api, ident, "000000", client_ip=ip))
    assert [a.status for a in answers] == [422, 422, 422, 429]  # wrong, wrong, wrong, then refused unchecked
    refused = await answers[3].json()
    assert refused["code"] == "otp_verify_limited"
    assert 0 < int(answers[3].headers["Retry-After"]) <= 60


async def test_wrong_answers_impose_growing_delays_answered_like_a_wrong_code(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(
        # A delay long enough that the right code below always arrives inside it, however loaded the machine.
        aiohttp_client,
        dsn,
        keys,
        parties,
        verify_free_failures=1,
        verify_delay_base_s=60,
        otp_max_attempts=10,
    )
    ident = await open_identification(api, await register(api, ARMAN))
    assert (await send(api, ident)).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    attacker = {"client_ip": "203.0.113.7"}

    first = await (await verify(api, ident, wrong(code), **attacker)).json()
    second = await (await verify(api, ident, wrong(code), **attacker)).json()
    assert first["retry_after"] == 0 and 58 <= second["retry_after"] <= 60
    paused = await verify(api, ident, code, **attacker)  # right code, but inside the delay
    paused_body = await paused.json()
    assert paused.status == 422
    assert {k: paused_body[k] for k in ("code", "status", "title")} == {
        k: second[k] for k in ("code", "status", "title")
    }
    # The client on their own address is not slowed down by the attacker.
    assert (await verify(api, ident, code, client_ip="198.51.100.20")).status == 200


async def test_delay_ends_and_is_never_a_permanent_lock(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(
        aiohttp_client, dsn, keys, parties, verify_free_failures=0, verify_delay_base_s=1, verify_delay_max_s=1
    )
    ident = await open_identification(api, await register(api, ARMAN))
    assert (await send(api, ident)).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    for _ in range(3):
        body = await (await verify(api, ident, wrong(code))).json()
    assert body["retry_after"] <= 1  # capped, however many failures
    await asyncio.sleep(1.1)
    assert (await verify(api, ident, code)).status == 200


async def test_verifying_without_any_code_is_answered_like_a_wrong_code(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    ident = await open_identification(api, await register(api, ARMAN))
    resp = await verify(api, ident, "123456")
    assert resp.status == 422 and (await resp.json())["code"] == "otp_rejected"
    garbage = await verify(api, ident, "12ab")
    assert garbage.status == 422 and (await garbage.json())["code"] == "otp_malformed"
    missing = await verify(api, "no-such-identification", "123456")
    assert missing.status == 404


async def test_slow_gateway_does_not_hold_up_the_request(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties, upstream_timeout_s=5)
    ident = await open_identification(api, await register(api, ARMAN))
    await arm(parties.sms_a, "slow", delay_ms=1500, path="/send")
    started = time.perf_counter()
    assert (await send(api, ident)).status == 202
    assert time.perf_counter() - started < 0.5
    code = await sent_code(parties, ARMAN.phone.number)
    assert (await verify(api, ident, code)).status == 200


async def test_broken_gateway_fails_over_to_the_second(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    ident = await open_identification(api, await register(api, ARMAN))
    await arm(parties.sms_a, "error", status=503, count=None, path="/send")
    assert (await send(api, ident)).status == 202
    code = await sent_code(parties, ARMAN.phone.number)
    assert await messages(parties.sms_a, ARMAN.phone.number) == []
    assert (await verify(api, ident, code)).status == 200


async def test_delivery_receipts_update_the_outbox_and_a_failed_delivery_is_retried_elsewhere(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    ok_id = (await (await send(api, await open_identification(api, await register(api, ARMAN)))).json())["message_id"]
    off_id = (await (await send(api, await open_identification(api, await register(api, TIMUR)))).json())["message_id"]
    engine = api.app[DB].engine

    async def settled(message_id: str, status: str) -> outbox.OutboxState:
        seen = None
        for _ in range(100):
            async with Database(engine).autocommit() as conn:
                found = await outbox.state(conn, message_id)
            assert found is not None
            if found.status == status:
                return found
            seen = found.status
            await asyncio.sleep(0.05)
        raise AssertionError(f"{message_id} stayed {seen}")

    delivered = await settled(ok_id, "delivered")
    assert delivered.gateway == "sms-a"
    # Timur's handset is off: gateway A reports failure, gateway B is tried, then it is given up.
    failed = await settled(off_id, "failed")
    assert failed.gateway == "sms-b" and failed.attempts == 2
    assert len(await messages(parties.sms_b, TIMUR.phone.number)) == 1


async def test_forged_receipt_is_refused(aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    resp = await api.client.post(
        "/callbacks/sms",
        data=b'{"message_id":"gw-a-000001","status":"delivered"}',
        headers={"X-Signature": "sha256=" + "0" * 64, "Content-Type": "application/json"},
    )
    assert resp.status == 401
    assert (await resp.json())["code"] == "bad_receipt_signature"


async def test_message_waits_while_every_gateway_is_down_and_goes_out_when_one_is_back(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    ident = await open_identification(api, await register(api, ARMAN))
    for gateway in (parties.sms_a, parties.sms_b):
        await arm(gateway, "error", status=503, count=None, path="/send")
    sent = await send(api, ident)
    assert sent.status == 202  # the request does not wait for, or fail with, the gateways
    message_id = (await sent.json())["message_id"]
    for _ in range(100):
        async with api.app[DB].autocommit() as conn:
            state = await outbox.state(conn, message_id)
        if state is not None and state.attempts >= 1 and state.status == "queued":
            break
        await asyncio.sleep(0.05)
    assert state is not None and (state.status, state.error) == ("queued", "upstream_bad_response")
    for gateway in (parties.sms_a, parties.sms_b):
        await clear(gateway)
    code = await sent_code(parties, ARMAN.phone.number)
    assert (await verify(api, ident, code)).status == 200


async def test_receipts_are_refused_unless_a_signing_secret_is_configured(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties, sms_receipt_secret="", sms_callback_url="")
    resp = await api.client.post("/callbacks/sms", json={"message_id": "gw-a-000001", "status": "failed"})
    assert resp.status == 401
    assert (await resp.json())["code"] == "receipts_not_configured"


async def test_a_verification_call_reads_the_code_out(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    api = await service(aiohttp_client, dsn, keys, parties)
    ident = await open_identification(api, await register(api, ARMAN))
    resp = await send(api, ident, channel="voice")
    assert resp.status == 202 and (await resp.json())["channel"] == "voice"
    placed: list[dict[str, Any]] = []
    for _ in range(100):
        async with (
            aiohttp.ClientSession() as http,
            http.get(parties.sms_a.make_url("/calls"), params={"to": ARMAN.phone.number}) as answer,
        ):
            placed = (await answer.json())["calls"]
        if placed:
            break
        await asyncio.sleep(0.05)
    assert [c["mode"] for c in placed] == ["speak_code"]
    assert await messages(parties.sms_a, ARMAN.phone.number) == []  # no SMS for a call
    ok = await verify(api, ident, placed[0]["code"], factor="voice")
    assert ok.status == 200 and (await ok.json())["method"] == "otp_voice"
