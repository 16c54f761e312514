"""The fault-injection admin every simulator shares: arming, scoping, counting, clearing, auth."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.telco.app import create_app

ARMAN = {"iin": "900101300126", "phone": "+77771234567"}


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(api_key="sim-key"))


async def check(client: Any, key: str = "sim-key") -> Any:
    return await client.post("/v1/subscriber/check", json=ARMAN, headers={"Authorization": f"Bearer {key}"})


async def test_count_limits_a_fault_and_the_log_records_it(client: Any) -> None:
    armed = await client.post("/admin/faults", json={"kind": "error", "status": 502, "count": 2})
    assert armed.status == 201 and (await armed.json())["kind"] == "error"
    assert [(await check(client)).status for _ in range(3)] == [502, 502, 200]
    log = (await (await client.get("/admin/requests")).json())["requests"]
    assert [r["fault"] for r in log] == ["error", "error", None]
    assert (await client.delete("/admin/requests")).status == 204
    assert (await (await client.get("/admin/requests")).json())["requests"] == []


async def test_faults_can_be_scoped_to_a_path_and_cleared(client: Any) -> None:
    await client.post("/admin/faults", json={"kind": "error", "count": None, "path": "/v1/other"})
    assert (await check(client)).status == 200
    await client.post("/admin/faults", json={"kind": "malformed", "count": None})
    broken = await check(client)
    assert broken.status == 200 and broken.content_type == "application/json"
    with pytest.raises(ValueError):
        await broken.json()
    assert len((await (await client.get("/admin/faults")).json())["faults"]) == 2
    assert (await client.delete("/admin/faults")).status == 204
    assert (await check(client)).status == 200


@pytest.mark.parametrize(
    "body",
    [{"kind": "explode"}, {"kind": "slow", "delay_ms": "long"}, {"kind": "error", "count": True}, [1, 2]],
)
async def test_bad_fault_requests_are_refused(client: Any, body: Any) -> None:
    resp = await client.post("/admin/faults", json=body)
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] in ("bad_fault", "malformed_json")


async def test_api_key_guards_the_party_but_not_the_admin(client: Any) -> None:
    resp = await check(client, key="wrong")
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"
    assert (await client.get("/admin/faults")).status == 200


async def test_malformed_request_bodies_are_named(client: Any) -> None:
    headers = {"Authorization": "Bearer sim-key", "Content-Type": "application/json"}
    resp = await client.post("/v1/subscriber/check", data=b"{nope", headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "malformed_json"
    resp = await client.post("/v1/subscriber/check", json={"iin": ARMAN["iin"]}, headers=headers)
    assert (await resp.json())["error"]["code"] == "missing_field"
