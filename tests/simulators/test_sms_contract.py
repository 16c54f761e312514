"""The SMS gateway and verification-call simulator's wire contract, as raw HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from simulators.population import build_population
from simulators.sms.app import create_app

PEOPLE = build_population()
TO = PEOPLE["arman"].phone.number


@pytest.fixture
async def client(aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(name="gw-x", delivery_delay_ms=10, population=PEOPLE))


async def test_send_status_and_list(client: Any) -> None:
    resp = await client.post("/send", json={"to": "8 777 123 45 67", "text": "Код 1", "sender": "DemoMFO"})
    assert resp.status == 202
    sent = await resp.json()
    assert sent["status"] == "accepted" and sent["message_id"].startswith("gw-x-")
    await asyncio.sleep(0.05)
    status = await (await client.get(f"/status/{sent['message_id']}")).json()
    assert status["status"] == "delivered" and status["to"] == TO and "text" not in status
    listed = await (await client.get("/messages", params={"to": TO})).json()
    assert [m["text"] for m in listed["messages"]] == ["Код 1"]
    assert (await client.get("/status/nope")).status == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"to": "+7 727 123 45 67", "text": "x", "sender": "S"}, "invalid_number"),
        ({"to": TO, "text": "x" * 1001, "sender": "S"}, "text_too_long"),
        ({"to": TO, "text": "x", "sender": "Demo MFO!"}, "bad_sender"),
        ({"to": TO, "text": "x", "sender": "S", "callback_url": "ftp://x"}, "bad_callback_url"),
        ({"to": TO, "sender": "S"}, "missing_field"),
    ],
)
async def test_send_refusals(client: Any, body: dict[str, Any], code: str) -> None:
    resp = await client.post("/send", json=body)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == code


async def test_client_ref_deduplicates_and_detects_misuse(client: Any) -> None:
    body = {"to": TO, "text": "Код 2", "sender": "S", "client_ref": "r1"}
    first = await (await client.post("/send", json=body)).json()
    again = await client.post("/send", json=body)
    assert again.status == 200 and (await again.json())["message_id"] == first["message_id"]
    clash = await client.post("/send", json=body | {"text": "other"})
    assert clash.status == 409 and (await clash.json())["error"]["code"] == "client_ref_conflict"


async def test_call_lifecycle(client: Any) -> None:
    placed = await client.post("/calls", json={"to": TO, "mode": "collect_digits", "digits": 4})
    call = await placed.json()
    assert placed.status == 201 and call["status"] == "ringing"
    answered = await client.post(f"/admin/calls/{call['call_id']}/answer", json={"digits": "1234"})
    assert (await answered.json())["status"] == "completed"
    again = await client.post(f"/admin/calls/{call['call_id']}/answer", json={"outcome": "no_answer"})
    assert again.status == 409
    spoken = await (await client.post("/calls", json={"to": TO, "mode": "speak_code", "code": "9876"})).json()
    listed = await (await client.get("/calls", params={"to": TO})).json()
    assert [c["code"] for c in listed["calls"]] == [None, "9876"]
    assert "code" not in await (await client.get(f"/calls/{spoken['call_id']}")).json()
    for body in (
        {"to": TO, "mode": "sing"},
        {"to": TO, "mode": "speak_code", "code": "12"},
        {"to": TO, "mode": "collect_digits", "digits": 0},
    ):
        assert (await client.post("/calls", json=body)).status == 400


async def test_inboxes_find_the_services_message_by_client_ref(client: Any) -> None:
    """The service's message_id (its outbox id) travels as client_ref: the inbox is searchable by it."""
    for ref, text in (("outbox-1", "Код 1111"), ("outbox-2", "Код 2222")):
        body = {"to": TO, "text": text, "sender": "DemoMFO", "client_ref": ref}
        assert (await client.post("/send", json=body)).status == 202
    found = (await (await client.get("/messages", params={"client_ref": "outbox-2"})).json())["messages"]
    assert [(m["text"], m["client_ref"]) for m in found] == [("Код 2222", "outbox-2")]
    assert found[0]["message_id"].startswith("gw-x-")  # the gateway's own id is another one
    assert "client_ref" not in await (await client.get(f"/status/{found[0]['message_id']}")).json()
    body = {"to": TO, "mode": "speak_code", "code": "4821", "client_ref": "outbox-3"}
    assert (await client.post("/calls", json=body)).status == 201
    calls = (await (await client.get("/calls", params={"client_ref": "outbox-3"})).json())["calls"]
    assert [(c["code"], c["client_ref"]) for c in calls] == [("4821", "outbox-3")]
    assert (await (await client.get("/calls", params={"client_ref": "nope"})).json())["calls"] == []
