"""Stopping a serving process without cutting a request: the requests in flight are counted, and a stop waits
for them before aiohttp closes the connections.

aiohttp's own shutdown marks every connection closing first and from then on drops the bytes that arrive on
it, so a request still uploading its body (a photo, a liveness capture) would wait out the whole timeout and
be cut. The service's stop (`authsvc.serving`) therefore closes the listener, waits here until no request is in
flight (their bodies are still read), and only then lets aiohttp close what is idle. Answers given while
stopping say ``Connection: close``, so a keep-alive client goes to another process for its next request.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler


class Drain:
    def __init__(self) -> None:
        self.in_flight = 0
        self.stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.in_flight += 1
        self._idle.clear()
        try:
            response = await handler(request)
            if self.stopping and not response.prepared:
                response.force_close()
            return response
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def drained(self, timeout_s: float) -> bool:
        """Take no more keep-alive requests; True once none is in flight, False after ``timeout_s``."""
        self.stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
