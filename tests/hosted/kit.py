"""Test parts of the hosted page: the NCALayer simulator served from its own thread over TLS."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import threading
from typing import Any

import aiohttp
from aiohttp import web

from simulators.ncalayer.server import State, create_app
from simulators.ncalayer.tls import LocalCertificate, make_certificate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NcaLayerSim:
    """``python -m simulators.ncalayer`` in a thread: it keeps answering while a test's loop (or a browser) waits."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"wss://127.0.0.1:{self.port}"
        self.cert: LocalCertificate = make_certificate()
        self.state = State()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> NcaLayerSim:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(create_app(self.state))
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.cert.server_context()).start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self.cert.cert_pem.decode())
        return context

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"https://127.0.0.1:{self.port}{path}", json=body, ssl=self.client_context()) as r,
        ):
            assert r.status < 300, await r.text()
            return await r.json() if r.status != 204 else None

    async def add_keystore(self, issued: dict[str, Any], name: str = "AUTH_GOST.p12") -> int:
        body = {"name": name, "p12": issued["p12"], "password": issued["password"]}
        index: int = (await self.control("POST", "/control/keystores", body))["index"]
        return index

    async def fault(self, fault: str | None) -> None:
        await self.control("POST", "/control/fault", {"fault": fault})


async def ncalayer_call(sim: NcaLayerSim, *requests: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """Connect as a page does: the greeting, then one answer per request, in order."""
    async with aiohttp.ClientSession() as http, http.ws_connect(sim.url, ssl=sim.client_context()) as ws:
        greeting = json.loads((await ws.receive(timeout=10)).data)
        answers = []
        for request in requests:
            await ws.send_str(json.dumps(request))
            answers.append(json.loads((await ws.receive(timeout=60)).data))
    return greeting, answers


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
