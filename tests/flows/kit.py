"""The whole service for journey tests: every outside party's simulator (SMS, telco, CDAO, bureau, bank, and
the NCA test PKI) on free ports, the service configured to reach them, and a lender's steps as helpers."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from authsvc.api.state import DB, VERIFIER
from authsvc.app import create_app
from authsvc.cabinet.media import FormatOnlyInspector
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import lenders
from simulators.nca.signer import create_cms_signature_from_base64
from simulators.population import Person
from tests.api.test_eds_simulator import Simulator, pair_of
from tests.conftest import TODAY, Api, make_settings
from tests.methods.factorkit import FAST, PEOPLE, Parties, free_port, register, sent_code
from tests.shared import fixture_path

__all__ = ["PEOPLE", "Journey", "start_journey"]


@dataclass
class Journey:
    """A lender's backend against the service: one method per call it makes."""

    api: Api
    parties: Parties
    nca: Simulator

    async def register(self, person: Person, card: str | None = None) -> str:
        return await register(self.api, person, card=card)

    async def open(
        self, client_id: str, operation: str, profile: str | None = None, device: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"client_id": client_id, "operation": operation}
        if profile is not None:
            body["profile"] = profile
        resp = await self.api.post("/v1/identifications", body, **signals(device))
        return resp.status, await resp.json()

    async def opened(self, client_id: str, operation: str, profile: str | None = None, **kw: Any) -> str:
        status, out = await self.open(client_id, operation, profile, **kw)
        assert status == 201, out
        return str(out["id"])

    async def state(self, ident: str) -> dict[str, Any]:
        resp = await self.api.get(f"/v1/identifications/{ident}")
        assert resp.status == 200, await resp.text()
        out: dict[str, Any] = await resp.json()
        return out

    async def step(
        self, ident: str, path: str, body: Any = None, device: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        resp = await self.api.post(f"/v1/identifications/{ident}/{path}", body or {}, **signals(device))
        return resp.status, await resp.json()

    async def eds(self, ident: str, person: Person, device: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """The client signs the identification's challenge with an NCA key issued for their IIN."""
        issued = await self.nca.issue(iin=person.iin, algorithm="gost2015")
        status, challenge = await self.step(ident, "eds/challenge")
        assert status == 201, challenge
        cms = create_cms_signature_from_base64(pair_of(issued), challenge["data"], attached=True)
        return await self.step(ident, "eds", {"cms": cms}, device)

    async def cdao(
        self, ident: str, person: Person, device: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """A live image of the person (the state photo itself: the CDAO simulator matches by hash here)."""
        assert person.photo is not None
        image = base64.b64encode((fixture_path("faces") / person.photo).read_bytes()).decode()
        return await self.step(ident, "cdao", {"image_base64": image}, device)

    async def sms_code(
        self, ident: str, person: Person, nth: int, device: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Send a code to the client's phone, read it as the client would, enter it."""
        status, sent = await self.step(ident, "otp", {})
        assert status == 202, sent
        code = await sent_code(self.parties, person.phone.number, nth)
        return await self.step(ident, "otp/verify", {"factor": "sms", "code": code}, device)

    async def apply(
        self, client_id: str, ident: str | None, application_id: str, device: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {
            "application_id": application_id,
            "lender_bin": "971240001315",
            "amount": 150_000,
            "submitted_at": "2026-12-01T09:00:00+05:00",
        }
        if ident is not None:
            body["identification_id"] = ident
        resp = await self.api.post(f"/v1/clients/{client_id}/loan-applications", body, **signals(device))
        return resp.status, await resp.json()


def signals(device: dict[str, Any] | None) -> dict[str, str]:
    return {} if device is None else {"Device-Signals": json.dumps(device)}


SAFE_PHONE = {
    "device_id": "android-7f3a",
    "rooted": False,
    "remote_control": False,
    "app_signature_valid": True,
    "geolocation": {"latitude": 43.2389, "longitude": 76.8897, "accuracy_m": 25},
}


async def start_journey(
    aiohttp_client: Any,
    aiohttp_server: Any,
    dsn: str,
    keys: LocalKeyStore,
    nca: Simulator,
    tmp_path: Path,
    **flows: Any,
) -> Journey:
    from tests.methods.factorkit import start_parties

    parties = await start_parties(aiohttp_server)
    port = free_port()
    factors = {**parties.urls(), **FAST, "sms_callback_url": f"http://127.0.0.1:{port}/callbacks/sms"}
    settings = make_settings(
        dsn,
        factors=factors,
        pki=nca.settings(tmp_path / "pki"),
        server={"process_workers": 1},
        flows=flows,
        webhooks={"allow_http_loopback": True, "poll_s": 0.05},  # the tests' lender receives on 127.0.0.1
    )
    app = create_app(settings, keys=keys, today=TODAY, photo_inspector=FormatOnlyInspector())
    client = await aiohttp_client(TestServer(app, port=port))
    async with app[DB].transaction() as tx:
        lender, key = await lenders.create(tx, "Journey MFO")
    await asyncio.wait_for(app[VERIFIER].trust.wait_ready(), 30)
    return Journey(Api(client, app, key, lender.id), parties, nca)
