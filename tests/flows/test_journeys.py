"""A lender's whole journeys over HTTP against every simulator: register a client, open identifications under
each regulatory profile, pass their steps and get completed, signed results — and the refusals, with their
codes (R-6.4, R-6.6, R-7.x, R-10.x, R-108.1, R-NB.1–R-NB.7, R-12.3)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from authsvc.api.state import DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import identifications
from authsvc.webhooks import signing
from simulators.nca.signer import create_cms_signature_from_base64
from tests.api.test_eds_simulator import Simulator, pair_of
from tests.attestation.offline import verify_offline as offline_verify
from tests.flows.kit import PEOPLE, SAFE_PHONE, Journey, start_journey
from tests.webhooks.receiver import Receiver

ARMAN, AIGERIM, DANA = PEOPLE["arman"], PEOPLE["aigerim"], PEOPLE["dana"]


@pytest.fixture
async def journey(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore, simulator: Simulator, tmp_path: Path
) -> Journey:
    return await start_journey(aiohttp_client, aiohttp_server, dsn, keys, simulator, tmp_path)


def methods_of(state: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["method"], s["outcome"]) for s in state["steps"]]


async def test_registration_by_eds_alone_completes_and_registers_the_client(journey: Journey) -> None:
    client = await journey.register(ARMAN)
    ident = await journey.opened(client, "registration")
    state = await journey.state(ident)
    assert state["status"] == "pending" and state["profile"] == "res63-2021"
    assert [c["requirement"] for c in state["conditions"]] == ["R-6.4"]
    assert {"eds", "cdao", "liveness", "password", "otp_sms"} <= set(state["next_methods"])

    status, step = await journey.eds(ident, ARMAN)
    assert status == 200 and step["outcome"] == "passed", step
    assert step["identification_status"] == "completed" and step["next_methods"] == []
    done = await journey.state(ident)
    assert done["status"] == "completed" and done["completed_at"] and done["failure"] is None
    assert done["consumed_at"] is not None  # the registration identification completes registration itself
    assert done["conditions"][0]["met"] is True
    # The signed result: verifiable by the service, and offline with the published keys.
    token = done["attestation"]
    verified = await (await journey.api.post("/v1/attestations/verify", {"attestation": token})).json()
    assert verified["valid"] is True, verified
    claims = verified["claims"]
    assert (claims["sub"], claims["operation"], claims["profile"]) == (client, "registration", "res63-2021")
    assert [s["method"] for s in claims["steps"]] == ["eds"] and claims["identification_id"] == ident
    assert step["details"]["cms_sha256"] in claims["steps"][0]["evidence_sha256"]
    jwks = await (await journey.api.client.get("/.well-known/jwks.json")).json()
    assert offline_verify(token, jwks)["jti"] == ident
    head, body, sig = token.split(".")
    forged = ".".join((head, body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1], sig))
    refused = await (await journey.api.post("/v1/attestations/verify", {"attestation": forged})).json()
    assert refused["valid"] is False
    # A completed identification takes no more steps.
    status, closed = await journey.step(ident, "eds/challenge")
    assert status == 409 and closed["code"] == "identification_closed" and closed["state"] == "completed"


async def test_change_of_phone_needs_registration_then_a_completed_change_contact_used_once(journey: Journey) -> None:
    client = await journey.register(ARMAN)
    status, refused = await journey.open(client, "change_contact")
    assert status == 409 and refused["code"] == "client_not_identified"  # before

    await journey.eds(await journey.opened(client, "registration"), ARMAN)
    ident = await journey.opened(client, "change_contact")
    status, step = await journey.eds(ident, ARMAN)
    assert status == 200 and step["identification_status"] == "completed", step
    patch = {"identification_id": ident, "phone": "+77051234567"}
    changed = await journey.api.patch(f"/v1/clients/{client}", patch)
    assert changed.status == 200, await changed.text()
    again = await journey.api.patch(f"/v1/clients/{client}", {**patch, "phone": "+77011112233"})
    assert again.status == 422 and (await again.json())["code"] == "identification_required"  # used once


async def test_an_authenticator_reset_is_its_own_operation(journey: Journey) -> None:
    """A new authenticator (POST /v1/clients/{id}/totp/reset) takes a `factor_reset` identification: an item-7
    method as at registration, biometrics under nb-2025 (R-23.1), and not the operator's number check that a
    change of contact takes under res108 (R-108.1)."""
    client = await _registered(journey, ARMAN)
    wanted = {"res63-2021": {"R-6.4"}, "res108": {"R-6.4"}, "nb-2025": {"R-6.4", "R-23.1"}}
    for profile, requirements in wanted.items():
        state = await journey.state(await journey.opened(client, "factor_reset", profile))
        assert {c["requirement"] for c in state["conditions"]} == requirements, (profile, state["conditions"])
    contact = await journey.state(await journey.opened(client, "change_contact", "res108"))
    assert "R-108.1" in {c["requirement"] for c in contact["conditions"]}


async def test_res108_adds_the_operators_number_check(journey: Journey) -> None:
    client = await journey.register(ARMAN)
    ident = await journey.opened(client, "registration", "res108")
    status, step = await journey.eds(ident, ARMAN)
    assert step["identification_status"] == "pending" and step["next_methods"] == ["telco"], step
    state = await journey.state(ident)
    assert [(c["requirement"], c["met"]) for c in state["conditions"]] == [("R-6.4", True), ("R-108.1", False)]
    status, step = await journey.step(ident, "telco")
    assert status == 200 and step["outcome"] == "passed" and step["identification_status"] == "completed", step


async def test_login_by_one_time_code(journey: Journey) -> None:
    client = await journey.register(ARMAN)
    ident = await journey.opened(client, "login")
    status, step = await journey.sms_code(ident, ARMAN, 1)
    assert status == 200 and step["method"] == "otp_sms" and step["identification_status"] == "completed", step


async def _registered(journey: Journey, person: Any) -> str:
    client = await journey.register(person)
    _status, step = await journey.eds(await journey.opened(client, "registration", "res63-2021"), person)
    assert step["identification_status"] == "completed", step
    return client


async def test_nb2025_loan_contract_needs_biometrics_and_eds_and_the_rest(journey: Journey) -> None:
    client = await _registered(journey, ARMAN)
    ident = await journey.opened(client, "loan_contract", "nb-2025")
    state = await journey.state(ident)
    assert {c["requirement"] for c in state["conditions"]} == {"R-10.1", "R-108.1", "R-NB.2", "R-NB.6", "R-NB.7"}

    # R-NB.5: without the app's signals (and its geolocation) no step of a loan contract is taken.
    status, refused = await journey.step(ident, "telco")
    assert status == 422 and refused["code"] == "device_signals_required"
    no_geo = {k: v for k, v in SAFE_PHONE.items() if k != "geolocation"}
    status, refused = await journey.step(ident, "telco", device=no_geo)
    assert status == 422 and refused["code"] == "device_signals_required"

    status, step = await journey.eds(ident, ARMAN, SAFE_PHONE)
    assert step["outcome"] == "passed", step
    for path in ("telco", "bureau-refusal"):
        status, step = await journey.step(ident, path, device=SAFE_PHONE)
        assert status == 200 and step["outcome"] == "passed", step
    status, out = await journey.apply(client, ident, "APP-1", SAFE_PHONE)
    assert status == 201, out
    state = await journey.state(ident)
    # EDS alone is not enough under nb-2025: biometrics are still missing (R-NB.1, R-NB.2).
    assert state["status"] == "pending" and set(state["next_methods"]) == {"cdao", "liveness"}, state
    status, step = await journey.cdao(ident, ARMAN, SAFE_PHONE)
    assert status == 200 and step["identification_status"] == "completed", step
    done = await journey.state(ident)
    assert all(c["met"] for c in done["conditions"])
    assert {m for m, _ in methods_of(done)} == {"eds", "telco", "bureau_refusal", "application_notice", "cdao"}


async def test_nb2025_a_voluntary_refusal_fails_the_loan_contract(journey: Journey) -> None:
    client = await _registered(journey, AIGERIM)
    ident = await journey.opened(client, "loan_contract", "nb-2025")
    status, refused = await journey.step(ident, "bureau-refusal", device=SAFE_PHONE)
    assert status == 409 and refused["code"] == "voluntary_refusal", refused
    state = await journey.state(ident)
    assert state["status"] == "failed" and state["failure"]["code"] == "decisive_step_failed", state
    status, closed = await journey.step(ident, "telco", device=SAFE_PHONE)
    assert status == 409 and closed["code"] == "identification_closed" and closed["state"] == "failed"


async def test_nb2025_a_rooted_phone_is_refused_and_fails_the_identification(journey: Journey) -> None:
    client = await _registered(journey, ARMAN)
    ident = await journey.opened(client, "loan_contract", "nb-2025")
    status, refused = await journey.eds(ident, ARMAN, {**SAFE_PHONE, "rooted": True})
    assert status == 422 and refused["code"] == "device_refused", refused
    state = await journey.state(ident)
    assert state["status"] == "failed" and state["failure"]["code"] == "device_refused"
    assert methods_of(state) == [("eds", "failed")] and state["steps"][0]["details"]["reasons"] == ["device_rooted"]


async def test_nb2025_without_biometrics_on_file_the_loan_contract_fails_after_its_attempts(journey: Journey) -> None:
    client = await _registered(journey, DANA)  # no photo at the CDAO
    ident = await journey.opened(client, "loan_contract", "nb-2025")
    for _attempt in range(3):
        status, refused = await journey.step(ident, "cdao", {"image_base64": "iVBORw0KGgo="}, device=SAFE_PHONE)
        assert status in (404, 422), refused
    state = await journey.state(ident)
    assert state["status"] == "failed" and state["failure"]["code"] == "attempts_exhausted", state


async def _nb2025_loan_contract(journey: Journey, client: str, person: Any, application: str) -> str:
    """A completed nb-2025 loan_contract identification: EDS, the operator's check, the bureau, the
    application told, the CDAO — all from a safe phone."""
    ident = await journey.opened(client, "loan_contract", "nb-2025")
    await journey.eds(ident, person, SAFE_PHONE)
    for path in ("telco", "bureau-refusal"):
        await journey.step(ident, path, device=SAFE_PHONE)
    await journey.apply(client, ident, application, SAFE_PHONE)
    _status, step = await journey.cdao(ident, person, SAFE_PHONE)
    assert step["identification_status"] == "completed", step
    return ident


async def test_nb2025_payout_waits_for_the_next_day(journey: Journey) -> None:
    client = await _registered(journey, ARMAN)
    status, refused = await journey.open(client, "payout", "nb-2025", device=SAFE_PHONE)
    assert status == 409 and refused["code"] == "cooling_off"  # no contract yet
    await _nb2025_loan_contract(journey, client, ARMAN, "APP-2")
    status, refused = await journey.open(client, "payout", "nb-2025", device=SAFE_PHONE)
    assert status == 409 and refused["code"] == "cooling_off" and refused["not_before"], refused


async def test_payout_with_the_cooling_off_rule_configured_off(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore, simulator: Simulator, tmp_path: Path
) -> None:
    journey = await start_journey(aiohttp_client, aiohttp_server, dsn, keys, simulator, tmp_path, cooling_off=False)
    client = await _registered(journey, ARMAN)
    ident = await journey.opened(client, "payout", "nb-2025")
    status, step = await journey.step(ident, "payout-account", device=SAFE_PHONE)
    assert status == 200 and step["outcome"] == "passed" and step["next_methods"], step
    status, step = await journey.sms_code(ident, ARMAN, 1, SAFE_PHONE)
    assert status == 200 and step["identification_status"] == "completed", step


async def test_a_completed_payout_identification_is_used_once(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore, simulator: Simulator, tmp_path: Path
) -> None:
    journey = await start_journey(aiohttp_client, aiohttp_server, dsn, keys, simulator, tmp_path, cooling_off=False)
    client = await _registered(journey, ARMAN)
    ident = await journey.opened(client, "payout")  # res63-2021: the account is the client's
    status, pending = await journey.step(ident, "use")
    assert status == 409 and pending["code"] == "identification_not_usable" and pending["state"] == "pending"
    status, step = await journey.step(ident, "payout-account")
    assert status == 200 and step["identification_status"] == "completed", step
    status, used = await journey.step(ident, "use")
    assert status == 200 and used["operation"] == "payout" and used["consumed_at"], used
    status, twice = await journey.step(ident, "use")
    assert status == 409 and twice["code"] == "identification_not_usable" and twice["state"] == "used"


async def test_a_contract_signature_uses_the_completed_loan_contract_identification_once(journey: Journey) -> None:
    client = await _registered(journey, ARMAN)
    ident = await journey.opened(client, "loan_contract")  # res63-2021: EDS or a code
    _status, step = await journey.eds(ident, ARMAN)
    assert step["identification_status"] == "completed", step
    document = base64.b64encode("Договор микрокредита № 7".encode()).decode()
    contracts = []
    for _ in range(2):
        created = await journey.api.post("/v1/contracts", {"client_id": client, "document": document})
        assert created.status == 201, await created.text()
        contracts.append((await created.json())["id"])
    issued = await journey.nca.issue(iin=ARMAN.iin, algorithm="gost2015")
    cms = create_cms_signature_from_base64(pair_of(issued), document, attached=True)
    signed = await journey.api.post(
        f"/v1/contracts/{contracts[0]}/sign", {"method": "eds", "cms": cms, "identification_id": ident}
    )
    assert signed.status == 201, await signed.text()
    again = await journey.api.post(
        f"/v1/contracts/{contracts[1]}/sign", {"method": "eds", "cms": cms, "identification_id": ident}
    )
    assert again.status == 409 and (await again.json())["code"] == "identification_not_usable"


async def test_nb2025_a_contract_is_signed_only_with_a_completed_loan_contract_identification_used_once(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore, simulator: Simulator, tmp_path: Path
) -> None:
    """R-NB.1, R-NB.2, R-12.3: under a lender whose loan_contract profile is nb-2025 (its `required` table),
    signing needs the client's completed, unused loan_contract identification under nb-2025 (or a profile
    built on it), and a signature uses it once."""
    journey = await start_journey(
        aiohttp_client, aiohttp_server, dsn, keys, simulator, tmp_path, default_profile="nb-2025"
    )
    explained = await (await journey.api.get("/v1/profiles/nb-2025")).json()
    assert explained["operations"]["loan_contract"]["required"]["requirement"] == "R-NB.1"
    client = await _registered(journey, ARMAN)
    document = base64.b64encode("Договор микрокредита № 9".encode()).decode()
    contracts = []
    for _ in range(2):
        created = await journey.api.post("/v1/contracts", {"client_id": client, "document": document})
        assert created.status == 201, await created.text()
        contracts.append((await created.json())["id"])
    issued = await journey.nca.issue(iin=ARMAN.iin, algorithm="gost2015")
    cms = create_cms_signature_from_base64(pair_of(issued), document, attached=True)

    async def sign(contract: str, **more: Any) -> tuple[int, dict[str, Any]]:
        resp = await journey.api.post(f"/v1/contracts/{contract}/sign", {"method": "eds", "cms": cms, **more})
        return resp.status, await resp.json()

    status, refused = await sign(contracts[0])  # no identification at all
    assert status == 422 and refused["code"] == "identification_required", refused
    assert refused["profile"] == "nb-2025" and refused["requirement"] == "R-NB.1"
    code = await journey.api.post(f"/v1/contracts/{contracts[0]}/sign", {"method": "otp", "code": "123456"})
    assert code.status == 422 and (await code.json())["code"] == "identification_required"  # by code alike
    weaker = await journey.opened(client, "loan_contract", "res63-2021")  # EDS alone completes it there
    _status, step = await journey.eds(weaker, ARMAN)
    assert step["identification_status"] == "completed", step
    status, refused = await sign(contracts[0], identification_id=weaker)
    assert status == 409 and refused["code"] == "identification_not_usable" and "res63-2021" in refused["detail"]
    pending = await journey.opened(client, "loan_contract", "nb-2025")
    status, refused = await sign(contracts[0], identification_id=pending)
    assert status == 409 and refused["code"] == "identification_not_usable", refused

    ident = await _nb2025_loan_contract(journey, client, ARMAN, "APP-9")
    status, signed = await sign(contracts[0], identification_id=ident)
    assert status == 201 and signed["method"] == "eds", signed
    assert (await journey.state(ident))["consumed_at"] is not None
    status, twice = await sign(contracts[1], identification_id=ident)  # used once
    assert status == 409 and twice["code"] == "identification_not_usable", twice
    report = await (await journey.api.get(f"/v1/contracts/{contracts[1]}")).json()
    assert report["signatures"] == []  # nothing of the refused signature was kept


async def test_a_black_listed_phone_fails_the_identification_and_a_grey_one_is_flagged(journey: Journey) -> None:
    client = await journey.register(ARMAN)
    grey = {"list": "grey", "kind": "device_id", "value": SAFE_PHONE["device_id"], "reason": "seen in a dispute"}
    assert (await journey.api.post("/v1/lists/entries", grey)).status == 201
    status, opened = await journey.open(client, "registration", device=SAFE_PHONE)
    assert status == 201 and opened["status"] == "pending" and opened["risk"] == ["device_id:lender"], opened

    black = {"list": "black", "kind": "phone", "value": ARMAN.phone.number, "reason": "fraud confirmed"}
    assert (await journey.api.post("/v1/lists/entries", black)).status == 201
    status, opened = await journey.open(client, "registration")
    assert status == 201 and opened["status"] == "failed", opened
    assert opened["failure"]["code"] == "black_listed" and "phone:lender" in opened["failure"]["reason"]
    status, closed = await journey.step(opened["id"], "eds/challenge")
    assert status == 409 and closed["code"] == "identification_closed" and closed["state"] == "failed"


async def test_an_expired_identification_reads_expired_and_takes_no_step(journey: Journey) -> None:
    client = await journey.register(ARMAN)
    ident = await journey.opened(client, "registration")
    async with journey.api.app[DB].transaction() as tx:  # its fifteen minutes have passed
        await tx.run(
            update(identifications)
            .where(identifications.c.id == ident)
            .values(expires_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    status, closed = await journey.step(ident, "eds/challenge")
    assert status == 409 and closed["code"] == "identification_closed" and closed["state"] == "expired"
    state = await journey.state(ident)
    assert state["status"] == "expired" and state["failure"]["code"] == "expired" and state["next_methods"] == []


async def test_the_lender_is_called_back_signed_when_an_identification_completes_and_fails(
    journey: Journey, aiohttp_server: Any
) -> None:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    hook = {"url": str(server.make_url("/hook")), "events": ["identification.completed", "identification.failed"]}
    configured = await journey.api.client.put("/v1/webhook", json=hook, headers=journey.api.headers())
    assert configured.status == 201, await configured.text()
    secret = (await configured.json())["secret"]
    client = await _registered(journey, ARMAN)  # completes a registration identification
    failed = await journey.opened(client, "loan_contract", "nb-2025")
    await journey.eds(failed, ARMAN, {**SAFE_PHONE, "remote_control": True})  # refused: it fails
    got = await receiver.wait_for(2)
    events = {r.payload["data"]["status"]: r for r in got}
    assert set(events) == {"completed", "failed"}
    for r in got:
        assert signing.verify(secret, r.body, r.signature), r
    assert events["completed"].payload["data"]["attestation"]
    assert events["failed"].payload["data"]["identification_id"] == failed
    assert events["failed"].payload["data"]["failure"]["code"] == "device_refused"
