"""Shared by the second-factor tests: every outside party's simulator on a free port, the service
configured to reach them, test people from the simulators' population, and reading the "sent" code."""

from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from authsvc.api.state import DB
from authsvc.app import create_app
from authsvc.cabinet.media import FormatOnlyInspector
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import lenders
from simulators.bank.app import create_app as bank_app
from simulators.bureau.app import create_app as bureau_app
from simulators.cdao.app import create_app as cdao_app
from simulators.population import Person, build_population
from simulators.sms.app import create_app as sms_app
from simulators.telco.app import create_app as telco_app
from tests.conftest import TODAY, Api, individual, make_settings
from tests.shared import fixture_path

PEOPLE = build_population()
RECEIPT_SECRET = "receipt-secret"


@dataclass
class Parties:
    sms_a: TestServer
    sms_b: TestServer
    telco: TestServer
    cdao: TestServer
    bureau: TestServer
    bank: TestServer

    def urls(self) -> dict[str, str]:
        def url(s: TestServer) -> str:
            return str(s.make_url("/")).rstrip("/")

        return {
            "sms_a_url": url(self.sms_a),
            "sms_b_url": url(self.sms_b),
            "telco_url": url(self.telco),
            "cdao_url": url(self.cdao),
            "bureau_url": url(self.bureau),
            "bank_url": url(self.bank),
        }


async def start_parties(aiohttp_server: Any) -> Parties:
    return Parties(
        sms_a=await aiohttp_server(sms_app(name="gw-a", delivery_delay_ms=20, callback_secret=RECEIPT_SECRET)),
        sms_b=await aiohttp_server(sms_app(name="gw-b", delivery_delay_ms=20, callback_secret=RECEIPT_SECRET)),
        telco=await aiohttp_server(telco_app()),
        cdao=await aiohttp_server(cdao_app(faces_dir=fixture_path("faces"), matcher="hash")),
        bureau=await aiohttp_server(bureau_app()),
        bank=await aiohttp_server(bank_app()),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# Fast failure and short waits so fault tests take fractions of a second.
FAST = {
    "upstream_timeout_s": 0.5,
    "upstream_attempts": 2,
    "sms_poll_s": 0.05,
    "otp_resend_cooldown_s": 0,
    "sms_receipt_secret": RECEIPT_SECRET,
}


async def start_service(aiohttp_client: Any, dsn: str, keys: LocalKeyStore, parties: Parties, **factors: Any) -> Api:
    """The service with receipts called back to itself, and one lender."""
    port = free_port()
    options = {**parties.urls(), **FAST, "sms_callback_url": f"http://127.0.0.1:{port}/callbacks/sms", **factors}
    # Photos are not what these tests are about: the format check is enough.
    app = create_app(make_settings(dsn, factors=options), keys=keys, today=TODAY, photo_inspector=FormatOnlyInspector())
    client = await aiohttp_client(TestServer(app, port=port))
    async with app[DB].transaction() as conn:
        lender, key = await lenders.create(conn, "Test MFO")
    return Api(client, app, key, lender.id)


async def register(api: Api, person: Person, *, identified: bool = False, card: str | None = None) -> str:
    """Register a population person as a client; returns the client id. ``identified``: also complete the
    registration (R-6.4, with a hardware token under the tests' own profile), as loan_contract, payout and
    change_contact identifications need. ``card``: this card number on file instead of the person's IBAN."""
    iban = person.accounts[0].iban if person.accounts and card is None else None
    body = individual(
        iin=person.iin,
        phone=person.phone.number,
        surname="Сериков",
        first_name="Арман",
        patronymic="Қайратұлы",
        bank_account={"iban": iban} if iban else None,
        card={"number": card} if card else None,
        payout_via_terminal=iban is None and card is None,
    )
    resp = await api.post("/v1/clients", body)
    assert resp.status == 201, await resp.text()
    client_id: str = (await resp.json())["id"]
    if identified:
        from tests.flowkit import registered

        await registered(api, client_id)
    return client_id


async def open_identification(api: Api, client_id: str, operation: str = "login") -> str:
    resp = await api.post("/v1/identifications", {"client_id": client_id, "operation": operation})
    assert resp.status == 201, await resp.text()
    ident_id: str = (await resp.json())["id"]
    return ident_id


async def messages(server: TestServer, phone: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(server.make_url("/messages"), params={"to": phone}) as resp:
        found: list[dict[str, Any]] = (await resp.json())["messages"]
        return found


async def wait_for_messages(servers: list[TestServer], phone: str, count: int, within: float = 5.0) -> list[str]:
    """Texts sent to ``phone`` through any of ``servers`` once at least ``count`` arrived."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        texts = [m["text"] for s in servers for m in await messages(s, phone)]
        if len(texts) >= count or asyncio.get_running_loop().time() > deadline:
            return texts
        await asyncio.sleep(0.05)


async def sent_code(parties: Parties, phone: str, count: int = 1) -> str:
    """The code in the ``count``-th SMS sent to ``phone``, as the simulators recorded it."""
    return await sent_code_via([parties.sms_a, parties.sms_b], phone, count)


async def sent_code_via(servers: list[TestServer], phone: str, count: int = 1) -> str:
    texts = await wait_for_messages(servers, phone, count)
    assert len(texts) >= count, f"only {len(texts)} SMS reached {phone}"
    found = re.search(r"\b(\d{6})\b", texts[count - 1])
    assert found, texts[count - 1]
    return found.group(1)


async def arm(server: TestServer, kind: str, **options: Any) -> None:
    async with (
        aiohttp.ClientSession() as s,
        s.post(server.make_url("/admin/faults"), json={"kind": kind, **options}) as resp,
    ):
        assert resp.status == 201, await resp.text()


async def clear(server: TestServer) -> None:
    async with aiohttp.ClientSession() as s, s.delete(server.make_url("/admin/faults")) as resp:
        assert resp.status == 204


async def calls(server: TestServer) -> int:
    async with aiohttp.ClientSession() as s, s.get(server.make_url("/admin/requests")) as resp:
        return len((await resp.json())["requests"])
