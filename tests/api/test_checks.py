"""Outside registries as identification steps against their simulators: the mobile-operator check
(R-108.1) with its cache, the CDAO (R-7.2), the bureau's voluntary refusal (R-NB.6) and application
report (R-NB.7), payout account ownership (R-NB.2) — and every party's faults: a clear 503 problem,
nothing recorded, and a retry that then succeeds."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from authsvc.crypto.local_keys import LocalKeyStore
from tests.conftest import Api
from tests.methods.factorkit import (
    PEOPLE,
    Parties,
    arm,
    calls,
    clear,
    open_identification,
    register,
    start_parties,
    start_service,
    wait_for_messages,
)
from tests.shared import fixture_path

ARMAN, DANA, NURLAN, AIGERIM, DANIYAR = (PEOPLE[k] for k in ("arman", "dana", "nurlan", "aigerim", "daniyar"))
ARMAN_PHOTO = base64.b64encode(fixture_path("faces", "obama_1.jpg").read_bytes()).decode()
OTHER_PHOTO = base64.b64encode(fixture_path("faces", "biden_2.jpg").read_bytes()).decode()  # someone else


@pytest.fixture
async def parties(aiohttp_server: Any) -> Parties:
    return await start_parties(aiohttp_server)


@pytest.fixture
async def api(aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties) -> Api:
    return await start_service(aiohttp_client, dsn, keys, parties)


async def step(api: Api, ident: str, name: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    resp = await api.post(f"/v1/identifications/{ident}/{name}", body or {})
    return resp.status, await resp.json()


async def steps_of(api: Api, ident: str) -> list[tuple[str, str]]:
    body = await (await api.get(f"/v1/identifications/{ident}")).json()
    return [(s["method"], s["outcome"]) for s in body["steps"]]


async def test_telco_confirms_the_number_and_flags_a_fresh_sim(api: Api, parties: Parties) -> None:
    status, arman = await step(api, await open_identification(api, await register(api, ARMAN)), "telco")
    assert status == 200
    assert (arman["outcome"], arman["details"]["sim_recently_changed"], arman["details"]["operator"]) == (
        "passed",
        False,
        "Beeline",
    )
    _, dana = await step(api, await open_identification(api, await register(api, DANA)), "telco")
    assert dana["outcome"] == "passed" and dana["details"]["sim_recently_changed"] is True
    _, nurlan = await step(api, await open_identification(api, await register(api, NURLAN)), "telco")
    assert nurlan["outcome"] == "failed" and nurlan["details"]["registered_to_individual"] is False


async def test_telco_answers_are_cached_for_their_ttl(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties
) -> None:
    # 3 s: the second look-up comes inside it even on a loaded machine (1 s was crossed once under load).
    api = await start_service(aiohttp_client, dsn, keys, parties, telco_cache_ttl_s=3)
    client = await register(api, ARMAN)
    seen = await calls(parties.telco)
    _, first = await step(api, await open_identification(api, client), "telco")
    _, second = await step(api, await open_identification(api, client), "telco")
    assert (first["details"]["cached"], second["details"]["cached"]) == (False, True)
    assert await calls(parties.telco) == seen + 1
    await asyncio.sleep(3.1)
    _, third = await step(api, await open_identification(api, client), "telco")
    assert third["details"]["cached"] is False and await calls(parties.telco) == seen + 2


async def test_cdao_match_mismatch_no_photo_and_reuse(api: Api) -> None:
    client = await register(api, ARMAN)
    ident = await open_identification(api, client)
    status, other = await step(api, ident, "cdao", {"image_base64": OTHER_PHOTO})
    assert status == 200 and other["outcome"] == "failed"
    status, match = await step(api, ident, "cdao", {"image_base64": ARMAN_PHOTO})
    assert status == 200 and match["outcome"] == "passed" and match["details"]["match"] is True
    status, again = await step(api, await open_identification(api, client), "cdao", {"image_base64": ARMAN_PHOTO})
    assert status == 409 and again["code"] == "evidence_reused"

    dana = await open_identification(api, await register(api, DANA))
    status, problem = await step(api, dana, "cdao", {"image_base64": ARMAN_PHOTO})
    assert status == 422 and problem["code"] == "cdao_no_photo_on_file"
    assert await steps_of(api, dana) == [("cdao", "failed")]
    status, bad = await step(api, dana, "cdao", {"image_base64": "not base64!"})
    assert status == 422 and bad["code"] == "bad_base64"  # one status per code (was 400 here, 422 elsewhere)


async def test_voluntary_refusal_blocks_the_operation(api: Api) -> None:
    status, ok = await step(
        api,
        await open_identification(api, await register(api, ARMAN, identified=True), "loan_contract"),
        "bureau-refusal",
    )
    assert status == 200 and ok["outcome"] == "passed"
    refused = await open_identification(api, await register(api, AIGERIM, identified=True), "loan_contract")
    status, problem = await step(api, refused, "bureau-refusal")
    assert status == 409 and problem["code"] == "voluntary_refusal"
    assert await steps_of(api, refused) == [("bureau_refusal", "failed")]


async def test_payout_account_must_be_the_clients_and_open(api: Api) -> None:
    client = await register(api, ARMAN, identified=True)

    async def payout() -> str:  # a passed check completes a res63-2021 payout identification
        return await open_identification(api, client, "payout")

    status, body = await step(api, await payout(), "payout-account")  # the IBAN on file
    assert status == 200 and body["outcome"] == "passed" and body["identification_status"] == "completed"
    status, body = await step(api, await payout(), "payout-account", {"card_token": "tok_arman_visa"})
    assert status == 200 and body["details"]["kind"] == "card"
    arman = await payout()
    status, body = await step(api, arman, "payout-account", {"iban": DANA.accounts[0].iban})
    assert status == 422 and body["code"] == "payout_account_not_owned"
    status, body = await step(api, arman, "payout-account", {"iban": "KZ18722S000012345678", "card_token": "x"})
    assert status == 422 and body["code"] == "one_payment_instrument"
    daniyar = await open_identification(api, await register(api, DANIYAR, identified=True), "payout")
    status, body = await step(api, daniyar, "payout-account")
    assert status == 422 and body["code"] == "payout_account_inactive"


async def test_application_report_notifies_the_client_once(api: Api, parties: Parties) -> None:
    client = await register(api, ARMAN)
    body = {
        "application_id": "APP-1",
        "lender_bin": "150140012343",
        "amount": 150000,
        "submitted_at": "2026-11-21T10:00:00+00:00",
    }
    first = await api.post(f"/v1/clients/{client}/loan-applications", body)
    assert first.status == 201, await first.text()
    assert (await first.json())["notification_id"] is not None
    retry = await api.post(f"/v1/clients/{client}/loan-applications", body)
    assert retry.status == 201 and (await retry.json())["notification_id"] is None
    texts = await wait_for_messages([parties.sms_a, parties.sms_b], ARMAN.phone.number, 2, within=1.0)
    assert len(texts) == 1 and "150000" in texts[0]
    refusing = await register(api, AIGERIM)
    answer = await api.post(f"/v1/clients/{refusing}/loan-applications", {**body, "application_id": "APP-2"})
    assert (await answer.json())["refusal_on_file"] is True


FAULTS: list[tuple[dict[str, Any], str]] = [
    ({"kind": "timeout", "delay_ms": 3000}, "upstream_timeout"),
    ({"kind": "error", "status": 503}, "upstream_bad_response"),
    ({"kind": "error", "status": 500}, "upstream_bad_response"),
    ({"kind": "malformed"}, "upstream_bad_response"),
    ({"kind": "bad_shape"}, "upstream_bad_response"),
    ({"kind": "disconnect"}, "upstream_unreachable"),
]


@pytest.mark.parametrize(
    ("party", "name", "person", "body"),
    [
        ("telco", "telco", ARMAN, {}),
        ("cdao", "cdao", ARMAN, {"image_base64": ARMAN_PHOTO}),
        ("bureau", "bureau-refusal", ARMAN, {}),
        ("bank", "payout-account", ARMAN, {}),
    ],
)
async def test_outside_faults_are_clear_problems_with_nothing_written_and_retry_succeeds(
    api: Api, parties: Parties, party: str, name: str, person: Any, body: dict[str, Any]
) -> None:
    server = getattr(parties, party)
    ident = await open_identification(api, await register(api, person, identified=True), "loan_contract")
    for fault, code in FAULTS:
        await arm(server, count=None, **fault)
        resp = await api.post(f"/v1/identifications/{ident}/{name}", body)
        problem = await resp.json()
        assert resp.status == 503, (fault, problem)
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        assert (problem["code"], problem["upstream"]) == (code, party), fault
        await clear(server)
    # A slow answer within the time limit is simply an answer; and nothing was recorded before.
    assert await steps_of(api, ident) == []
    await arm(server, "slow", delay_ms=200)
    status, ok = await step(api, ident, name, body)
    assert status == 200 and ok["outcome"] == "passed"
    assert await steps_of(api, ident) == [(ok["method"], "passed")]


async def test_cdao_without_an_image_needs_a_passed_liveness_capture(api: Api) -> None:
    ident = await open_identification(api, await register(api, ARMAN))
    status, problem = await step(api, ident, "cdao", {})
    assert status == 422 and problem["code"] == "no_live_capture"
