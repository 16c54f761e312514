"""With the service's keys on a PKCS#11 token, no key-store device call of any main journey runs on the
event loop (issue 12: "device calls never run on an event loop"): a real SoftHSM2 token whose every device
call notes whether it ran on a thread with a running event loop, and from which line of the service; the
lender's journeys over HTTP (registration, look-up, lists, identification, one-time codes, a hardware token,
EDS, an attestation checked, the audit heads, liveness, a contract signed, a webhook, an incident); the test lists each call that ran on the loop."""

from __future__ import annotations

import asyncio
import base64
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pkcs11

from authsvc.crypto.pkcs11_keys import Pkcs11KeyStore, _Keys
from drivers.pkcs11.provision import SOFTHSM_MODULE
from simulators.nca.signer import create_cms_signature_from_base64
from tests.api.documents import register_with_document
from tests.api.test_eds_simulator import Simulator, nca_port, nca_template, pair_of, simulator
from tests.api.test_liveness_step import REGISTRATION_PHOTO, as_mp4, render, script_for, submit
from tests.crypto.test_hsm_jobs import _softhsm, token
from tests.drivers.pkcs11.softhsm import PIN
from tests.flowkit import Token
from tests.flows.kit import PEOPLE, SAFE_PHONE, start_journey
from tests.incidents.test_incidents_api import incident
from tests.methods.factorkit import sent_code
from tests.shared import REPO_ROOT
from tests.webhooks.receiver import Receiver

__all__ = ["_softhsm", "nca_port", "nca_template", "simulator", "token"]  # the fixtures this test uses

T = TypeVar("T")
ARMAN = PEOPLE["arman"]
END_USER = "203.0.113.7"


def _service_lines() -> str:
    """The innermost lines of the service outside the key store that led to the device call."""
    lines = [
        f"{Path(f.filename).relative_to(REPO_ROOT)}:{f.lineno} {f.name}"
        for f in reversed(traceback.extract_stack())
        if Path(f.filename).is_relative_to(REPO_ROOT / "authsvc")
        and not Path(f.filename).is_relative_to(REPO_ROOT / "authsvc" / "crypto")
    ]
    return " < ".join(lines[:2]) or "(no service frame)"


def _on_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class WatchedToken(Pkcs11KeyStore):
    """The real store on the real token; each device call notes where it ran when that was an event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.on_loop: list[str] = []
        self.calls = 0
        super().__init__(*args, **kwargs)

    def _job(self, what: str, fn: Callable[[pkcs11.Session, _Keys], T]) -> Callable[[], T]:
        real = super()._job(what, fn)

        def job() -> T:
            self.calls += 1
            if _on_an_event_loop():  # else a thread of its own: what the requirement asks
                self.on_loop.append(f"{what} <- {_service_lines()}")
            return real()

        return job


async def test_no_journey_makes_a_device_call_on_the_event_loop(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, token: str, simulator: Simulator, tmp_path: Path
) -> None:
    hsm = WatchedToken(SOFTHSM_MODULE, token, PIN)
    hsm.initialize()  # provisioning, before any loop work
    hsm.on_loop.clear()
    journey = await start_journey(aiohttp_client, aiohttp_server, dsn, hsm, simulator, tmp_path)  # type: ignore[arg-type]
    api = journey.api

    # A webhook endpoint first, so the completions below are delivered (signed with its sealed secret).
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    hook = {"url": str(server.make_url("/hook")), "events": ["identification.completed"]}
    configured = await api.client.put("/v1/webhook", json=hook, headers=api.headers())
    assert configured.status == 201, await configured.text()
    hsm.data_keys.clear()  # here and below: what was just sealed is opened on the token again
    assert (await api.get("/v1/webhook")).status == 200

    # Registration and look-up, the lender's lists (identifier MACs), an identification opened with device
    # signals and passed by a one-time code sent by SMS (the outbox, the code's key, the throttle keys).
    client = await journey.register(ARMAN)
    hsm.data_keys.clear()
    found = await (await api.post("/v1/clients/lookup", {"iin": ARMAN.iin})).json()
    assert [c["id"] for c in found["items"]] == [client], found
    grey = {"list": "grey", "kind": "device_id", "value": "android-other", "reason": "seen in a dispute"}
    listed = await api.post("/v1/lists/entries", grey)
    assert listed.status == 201, await listed.text()
    entries = await api.get("/v1/lists/entries?list=grey")
    assert entries.status == 200, await entries.text()
    login = await journey.opened(client, "login", device=SAFE_PHONE)
    status, step = await journey.sms_code(login, ARMAN, 1, SAFE_PHONE)
    assert status == 200 and step["identification_status"] == "completed", step
    # A code sent and guessed wrong from an end user's address (the address's keyed throttles), then right.
    guessed = await journey.opened(client, "login")
    status, sent = await journey.step(guessed, "otp", {"client_ip": END_USER})
    assert status == 202, sent
    for _ in range(2):
        status, wrong = await journey.step(guessed, "otp/verify", {"code": "000000", "client_ip": END_USER})
        assert status == 422 and wrong["code"] == "otp_rejected", wrong
    code = await sent_code(journey.parties, ARMAN.phone.number, 2)
    status, step = await journey.step(guessed, "otp/verify", {"code": code, "client_ip": END_USER})
    assert status == 200 and step["identification_status"] == "completed", step

    # The registration by EDS (an attestation signed); a hardware token imported, assigned and used.
    registration = await journey.opened(client, "registration", "res63-2021")
    _status, step = await journey.eds(registration, ARMAN)
    assert step["identification_status"] == "completed", step
    attested = await journey.state(registration)
    assert attested["status"] == "completed", attested
    # Its attestation checked, and one naming a key the service does not hold (the token is read again for
    # it); the audit heads with their public keys.
    verdict = await (await api.post("/v1/attestations/verify", {"attestation": attested["attestation"]})).json()
    assert verdict["valid"] is True, verdict
    _header, payload, signature = attested["attestation"].split(".")
    stranger = base64.urlsafe_b64encode(b'{"alg":"EdDSA","kid":"not-ours","typ":"authsvc-attestation+jwt"}')
    forged = ".".join([stranger.decode().rstrip("="), payload, signature])
    verdict = await (await api.post("/v1/attestations/verify", {"attestation": forged})).json()
    assert verdict["valid"] is False and verdict["reasons"][0]["code"] == "attestation_unknown_key", verdict
    assert (await api.get("/v1/audit/heads")).status == 200
    hardware = await Token.assign(api, client)
    hsm.data_keys.clear()
    await hardware.complete("login")

    # A contract created and signed by EDS under a completed loan-contract identification.
    loan = await journey.opened(client, "loan_contract")
    _status, step = await journey.eds(loan, ARMAN)
    assert step["identification_status"] == "completed", step
    document = base64.b64encode("Договор микрокредита № 7".encode()).decode()
    created = await api.post("/v1/contracts", {"client_id": client, "document": document})
    assert created.status == 201, await created.text()
    contract = (await created.json())["id"]
    hsm.data_keys.clear()
    cms = create_cms_signature_from_base64(pair_of(await journey.nca.issue(iin=ARMAN.iin)), document, attached=True)
    signed = await api.post(f"/v1/contracts/{contract}/sign", {"method": "eds", "cms": cms, "identification_id": loan})
    assert signed.status == 201, await signed.text()
    assert (await api.get(f"/v1/contracts/{contract}")).status == 200

    # The completions reached the lender; an incident about the client.
    assert len(await receiver.wait_for(3)) >= 3
    opened = await api.post("/v1/incidents", incident(client))
    assert opened.status == 201, await opened.text()
    hsm.data_keys.clear()
    assert (await api.get(f"/v1/incidents/{(await opened.json())['id']}")).status == 200

    # A liveness step of a client registered with a photo and an identity document (its media sealed).
    pictured = await register_with_document(api, REGISTRATION_PHOTO)
    live = await journey.opened(pictured, "registration")
    challenge, script = await script_for(api, live)
    captured = await submit(api, live, challenge, video=as_mp4(render(script)))
    assert captured.status == 200, await captured.text()
    hsm.data_keys.clear()
    assert (await journey.state(live))["steps"], "the liveness step was recorded"

    assert hsm.calls > 0
    assert hsm.on_loop == [], "device calls on the event loop:\n" + "\n".join(sorted(set(hsm.on_loop)))
