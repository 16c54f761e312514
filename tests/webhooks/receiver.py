"""A lender's webhook receiver for the tests: a real aiohttp server that records every POST it gets and can
be told to fail the first N of them (or all)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    delivery_id: str
    event: str
    signature: str
    body: bytes
    at: float  # time.monotonic() on arrival

    @property
    def payload(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document


@dataclass
class Receiver:
    fail_first: int = 0
    fail_status: int = 500
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        return app

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            Received(
                request.headers.get("Authsvc-Delivery", ""),
                request.headers.get("Authsvc-Event", ""),
                request.headers.get("Authsvc-Signature", ""),
                body,
                time.monotonic(),
            )
        )
        self.arrived.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status = self.fail_status if len(self.received) <= self.fail_first else 200
        self.answered.append(status)
        return web.Response(status=status, text="ok" if status == 200 else "no")

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """What arrived once ``count`` deliveries did (or ``within`` seconds passed)."""
        deadline = time.monotonic() + within
        while True:
            self.arrived.clear()  # before looking: the loop does not yield in between
            left = deadline - time.monotonic()
            if len(self.received) >= count or left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        return list(self.received)
