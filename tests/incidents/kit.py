"""The service with the SMS gateways and the Anti-fraud centre simulators on free ports, a recorder of the
lender notifications the incidents raise, and a registered client from the simulated population."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from authsvc.api.state import DB
from authsvc.app import create_app
from authsvc.cabinet.media import FormatOnlyInspector
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import lenders
from authsvc.store.db import Tx
from simulators.afc.app import create_app as afc_app
from simulators.sms.app import create_app as sms_app
from tests.conftest import TODAY, Api, make_settings
from tests.methods.factorkit import PEOPLE, register

ARMAN = PEOPLE["arman"]  # +77771234567, IIN 900101300126
DANA = PEOPLE["dana"]


@dataclass
class Recorder:
    """What the service asked the webhook outbox to send: (lender_id, event, data)."""

    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, tx: Tx, lender_id: str, event: str, data: Mapping[str, Any]) -> None:
        self.events.append((lender_id, event, dict(data)))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [d for _, e, d in self.events if e == event]


@dataclass
class World:
    api: Api
    afc: TestServer
    sms: list[TestServer]
    notified: Recorder


async def start(aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore, **incidents: Any) -> World:
    sms_a = await aiohttp_server(sms_app(name="gw-a", delivery_delay_ms=10))
    sms_b = await aiohttp_server(sms_app(name="gw-b", delivery_delay_ms=10))
    afc = await aiohttp_server(afc_app())

    def url(server: TestServer) -> str:
        return str(server.make_url("/")).rstrip("/")

    factors = {"sms_a_url": url(sms_a), "sms_b_url": url(sms_b), "sms_poll_s": 0.05, "upstream_timeout_s": 0.5}
    options = {
        "afc_url": url(afc),
        "afc_poll_s": 3600.0,
        "housekeeping_s": 3600.0,
        "afc_timeout_s": 0.5,
        **incidents,
    }
    recorder = Recorder()
    app = create_app(
        make_settings(dsn, factors=factors, incidents=options),
        keys=keys,
        today=TODAY,
        photo_inspector=FormatOnlyInspector(),
        incident_notify=recorder,
    )
    client = await aiohttp_client(app)
    async with app[DB].transaction() as conn:
        lender, key = await lenders.create(conn, "Test MFO")
    return World(Api(client, app, key, lender.id), afc, [sms_a, sms_b], recorder)


async def client_of(world: World, person: Any = ARMAN) -> str:
    return await register(world.api, person)


async def afc_get(server: TestServer, path: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(server.make_url(path)) as resp:
        return resp.status, await resp.json()


async def afc_post(server: TestServer, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(server.make_url(path), json=body) as resp:
        return resp.status, await resp.json()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
