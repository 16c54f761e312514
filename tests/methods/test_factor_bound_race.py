"""The per-account bound across processes (issue 16.1): a guessing run against one client's hardware token
from 50 rotating addresses, fired at two `authsvc serve` processes on one PostgreSQL database at once, is
checked at most ``factor_failure_limit`` times; everything after is refused unchecked; the client's SMS code
still works."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp

from authsvc.methods.otp_codes import hotp
from tests.conftest import individual
from tests.methods.factorkit import PEOPLE, wait_for_messages
from tests.methods.test_otp_race import two_services  # noqa: F401  (the two-process fixture)

ARMAN = PEOPLE["arman"]
SEED = b"12345678901234567890"
LIMIT = 10  # the default [factors] factor_failure_limit
GUESSES = 50


async def test_guessing_from_fifty_addresses_on_two_processes_stops_at_the_bound(
    two_services: tuple[list[str], str, Any],  # noqa: F811
) -> None:
    (first, second), api_key, gateway = two_services
    auth = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(first + "/v1/clients", json=individual(iin=ARMAN.iin, phone=ARMAN.phone.number)) as r:
            assert r.status == 201, await r.text()
            client = (await r.json())["id"]
        async with http.post(first + "/v1/tokens", json={"serial": "HW-RACE", "seed_hex": SEED.hex()}) as r:
            assert r.status == 201
        async with http.post(first + "/v1/tokens/HW-RACE/assign", json={"client_id": client}) as r:
            assert r.status == 200
        async with http.post(first + "/v1/identifications", json={"client_id": client, "operation": "login"}) as r:
            ident = (await r.json())["id"]
        right = hotp(SEED, 0)
        guesses = [f"{(int(right) + 1 + n) % 10**6:06d}" for n in range(GUESSES)]

        async def guess(n: int) -> tuple[int, str]:
            base = first if n % 2 else second
            body = {"factor": "hotp", "code": guesses[n], "client_ip": f"198.51.100.{n + 1}"}
            async with http.post(f"{base}/v1/identifications/{ident}/otp/verify", json=body) as r:
                return r.status, (await r.json()).get("code", "")

        answers = await asyncio.gather(*[guess(n) for n in range(GUESSES)])
        checked = [a for a in answers if a == (422, "otp_rejected")]
        refused = [a for a in answers if a == (409, "factor_suspended")]
        assert len(checked) == LIMIT, answers
        assert len(refused) == GUESSES - LIMIT, answers

        # The right code from a fresh address on either process: still suspended (only this factor) ...
        for base in (first, second):
            body = {"factor": "hotp", "code": right, "client_ip": "203.0.113.50"}
            async with http.post(f"{base}/v1/identifications/{ident}/otp/verify", json=body) as r:
                assert (r.status, (await r.json())["code"]) == (409, "factor_suspended")
        # ... while the client's SMS code passes at once.
        async with http.post(f"{second}/v1/identifications/{ident}/otp", json={"client_ip": "203.0.113.50"}) as r:
            assert r.status == 202, await r.text()
        # Two messages reach the phone: the suspension notice and the code (in either order).
        texts = await wait_for_messages([gateway], ARMAN.phone.number, 2)
        assert any("приостановлен" in t for t in texts), texts
        code = next(m.group(1) for t in texts if (m := re.search(r"\b(\d{6})\b", t)))
        body = {"factor": "sms", "code": code, "client_ip": "203.0.113.50"}
        async with http.post(f"{first}/v1/identifications/{ident}/otp/verify", json=body) as r:
            assert r.status == 200, await r.text()
        async with http.get(f"{first}/v1/clients/{client}/factors") as r:
            bounds = (await r.json())["bounds"]
        assert bounds == [
            {
                "factor": "hotp",
                "consecutive_failures": LIMIT,
                "suspended": True,
                "suspended_at": bounds[0]["suspended_at"],
            }
        ]
