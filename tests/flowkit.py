"""Completing identifications through the real flow in tests whose subject is something else (a PATCH, a
contract): the client holds a hardware token (RFC 4226 seed), and the tests' own profile `test-token`
(tests/data/profiles) lets one token code complete any operation."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

from authsvc.methods.otp_codes import hotp
from tests.conftest import Api

SEED = b"12345678901234567890"  # RFC 4226 appendix D
PROFILE = "test-token"


class Token:
    """A hardware token assigned to one client; each `code()` is the next counter's."""

    def __init__(self, api: Api, client_id: str) -> None:
        self.api, self.client_id = api, client_id
        self.counters: Iterator[int] = itertools.count()

    @classmethod
    async def assign(cls, api: Api, client_id: str) -> Token:
        serial = f"T-{uuid.uuid4().hex[:12]}"
        imported = await api.post("/v1/tokens", {"serial": serial, "seed_hex": SEED.hex()})
        assert imported.status == 201, await imported.text()
        assigned = await api.post(f"/v1/tokens/{serial}/assign", {"client_id": client_id})
        assert assigned.status == 200, await assigned.text()
        return cls(api, client_id)

    def code(self) -> str:
        return hotp(SEED, next(self.counters))

    async def complete(self, operation: str) -> str:
        """Open an identification for ``operation`` under `test-token`, pass it by one code; its id."""
        opened = await self.api.post(
            "/v1/identifications", {"client_id": self.client_id, "operation": operation, "profile": PROFILE}
        )
        assert opened.status == 201, await opened.text()
        ident: str = (await opened.json())["id"]
        step = await self.api.post(f"/v1/identifications/{ident}/otp/verify", {"factor": "hotp", "code": self.code()})
        assert step.status == 200, await step.text()
        assert (await step.json())["identification_status"] == "completed"
        return ident


async def registered(api: Api, client_id: str) -> Token:
    """The client's registration completed (R-6.4) with a token, which stays the client's for later steps."""
    token = await Token.assign(api, client_id)
    await token.complete("registration")
    return token
