"""Verification calls to the client's number (R-NB.4), placed through the SMS/voice gateway.

Contract (simulators/sms/calls.py speaks it): ``POST /calls`` {to, mode: speak_code | collect_digits,
code | digits, prompt, client_ref} → {call_id, status, ...}; ``GET /calls/{id}`` → {call_id, status:
ringing | completed | no_answer | rejected | unreachable, digits, placed_at, ended_at}.
Placing is de-duplicated by ``client_ref``, so it is retried; the call's outcome is polled.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict

from authsvc import error_codes
from authsvc.errors import ValidationFailed
from authsvc.parties.jsonapi import Endpoint, JsonApi


class CallState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    call_id: str
    to: str
    mode: Literal["speak_code", "collect_digits"]
    status: Literal["ringing", "completed", "no_answer", "rejected", "unreachable"]
    digits: str | None = None
    placed_at: datetime
    ended_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.status != "ringing"


class VoiceCallClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self._api = JsonApi(session, endpoint)

    async def _place(self, body: dict[str, Any]) -> CallState:
        answer = await self._api.call("POST", "/calls", body, idempotent=True)
        if answer.status not in (200, 201):
            raise self._api.rejected(answer)
        return self._api.parse(answer, CallState)

    async def speak_code(self, to: str, code: str, *, client_ref: str, prompt: str | None = None) -> CallState:
        """Call ``to`` and read ``code`` out; the client types it into the lender's app."""
        if not (code.isascii() and code.isdigit() and 4 <= len(code) <= 10):
            raise ValidationFailed("a spoken code is 4 to 10 digits", code=error_codes.OTP_MALFORMED)
        body: dict[str, Any] = {"to": to, "mode": "speak_code", "code": code, "client_ref": client_ref}
        if prompt:
            body["prompt"] = prompt
        return await self._place(body)

    async def collect_digits(self, to: str, digits: int, *, client_ref: str, prompt: str | None = None) -> CallState:
        """Call ``to`` and ask the callee to press ``digits`` digits (e.g. the code shown on screen)."""
        if not 1 <= digits <= 12:
            raise ValidationFailed("collect 1 to 12 digits", code=error_codes.BAD_DIGITS)
        body: dict[str, Any] = {"to": to, "mode": "collect_digits", "digits": digits, "client_ref": client_ref}
        if prompt:
            body["prompt"] = prompt
        return await self._place(body)

    async def await_final(self, call_id: str, *, within: float, interval: float = 1.0) -> CallState:
        """Poll until the call has ended, or ``within`` seconds pass (then the last state, still
        ``ringing``, is returned; treat it as no answer)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            current = await self.state(call_id)
            if current.final or loop.time() + interval > deadline:
                return current
            await asyncio.sleep(interval)

    async def state(self, call_id: str) -> CallState:
        answer = await self._api.call("GET", f"/calls/{quote(call_id, safe='')}", idempotent=True)
        if answer.status != 200:
            raise self._api.rejected(answer)
        return self._api.parse(answer, CallState)
