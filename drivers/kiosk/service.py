"""The service's HTTP API as the kiosk uses it (API.md): never its Python internals.

Every answer the agent cannot go on with becomes a `KioskFailure` with the service's own problem code
in the detail; connection failures, timeouts and 5xx are `service_unavailable`.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from drivers.kiosk.failures import KioskFailure

_CLOSED = {"identification_closed", "identification_expired", "challenge_expired", "contract_closed"}


class ServiceClient:
    def __init__(self, base_url: str, api_key: str, *, timeout_s: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ServiceClient:
        self._http = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        assert self._http is not None
        try:
            async with self._http.request(method, self._base + path, json=body) as resp:
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = {}
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KioskFailure("service_unavailable", f"{type(exc).__name__} {exc}".strip()) from exc
        if not isinstance(data, dict):
            data = {}
        if status >= 500:
            raise KioskFailure("service_unavailable", f"HTTP {status} {data.get('code', '')}".strip())
        return status, data

    @staticmethod
    def _refused(status: int, data: dict[str, Any]) -> KioskFailure:
        code = str(data.get("code", ""))
        if code in _CLOSED or any(r in _CLOSED for r in data.get("reasons", [])):
            return KioskFailure("challenge_expired", code)
        return KioskFailure("rejected", f"HTTP {status} {code}: {data.get('detail', '')}".strip())

    async def open_identification(self, client_id: str, operation: str) -> str:
        status, data = await self._call("POST", "/v1/identifications", {"client_id": client_id, "operation": operation})
        if status != 201:
            raise self._refused(status, data)
        return str(data["id"])

    async def challenge(self, identification_id: str) -> bytes:
        status, data = await self._call("POST", f"/v1/identifications/{identification_id}/eds/challenge", {})
        if status != 201:
            raise self._refused(status, data)
        return base64.b64decode(data["data"])

    async def submit_eds(self, identification_id: str, cms: bytes) -> dict[str, Any]:
        body = {"cms": base64.b64encode(cms).decode()}
        status, data = await self._call("POST", f"/v1/identifications/{identification_id}/eds", body)
        if status != 200:
            raise self._refused(status, data)
        return data

    async def contract(self, contract_id: str) -> dict[str, Any]:
        status, data = await self._call("GET", f"/v1/contracts/{contract_id}")
        if status != 200:
            raise self._refused(status, data)
        return data

    async def sign_contract(self, contract_id: str, cms: bytes) -> tuple[int, dict[str, Any]]:
        body = {"method": "eds", "cms": base64.b64encode(cms).decode()}
        return await self._call("POST", f"/v1/contracts/{contract_id}/sign", body)
