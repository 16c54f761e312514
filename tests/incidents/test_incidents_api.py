"""Incidents over HTTP on SQLite and PostgreSQL (R-15.1, R-108.2): deadlines on the real Kazakhstan
calendar, overdue marking, the client's SMS, the export to the Anti-fraud centre simulator, the grey list
while open, and the refusals with their codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from authsvc.api.state import DB, INCIDENTS, KEYS
from authsvc.audit.chainer import chain_all
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import audit_log, incidents
from tests.incidents.kit import ARMAN, DANA, World, afc_get, client_of, eventually, start
from tests.methods.factorkit import wait_for_messages

NOW_PLUS5 = "+05:00"


def incident(client_id: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": client_id,
        "kind": "fraud",
        "confirmed_by_police": True,
        "description": "Loan taken through a remote-access app; police report 2026-123",
    }
    body.update(over)
    return body


async def audit_events(world: World, subject: str) -> list[str]:
    """The chained audit entries about ``subject`` (everything waiting is chained first)."""
    await chain_all(world.api.app[DB], world.api.app[KEYS])
    async with world.api.app[DB].autocommit() as tx:
        rows = await tx.all(select(audit_log.c.event).where(audit_log.c.subject == subject))
    return [r["event"] for r in rows]


async def test_an_incident_on_friday_20_march_2026_is_due_after_nauryz(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys, housekeeping_s=0.1)
    client_id = await client_of(world)
    resp = await world.api.post("/v1/incidents", incident(client_id, detected_at="2026-03-20T16:30:00+05:00"))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    deadlines = body["deadlines"]
    assert deadlines["client"]["due_on"] == "2026-03-26"  # 21-25 March: Nauryz and its moved days off
    assert deadlines["regulator"]["due_on"] == "2026-03-26"
    assert deadlines["measures"]["due_on"] == "2026-03-27"
    assert deadlines["client"]["due_at"] == "2026-03-26T19:00:00Z"  # local midnight
    assert body["calendar_covered"] is True
    # Found in March and recorded today: every deadline has passed already.
    assert body["status"] == "overdue"
    assert all(d["overdue"] for d in deadlines.values())

    # The housekeeping task raises each overdue item once, with an audit entry.
    async def raised() -> bool:
        return len(world.notified.of("incident.overdue")) == 3

    await eventually(raised)
    assert sorted(d["item"] for d in world.notified.of("incident.overdue")) == ["client", "measures", "regulator"]
    assert (await audit_events(world, body["id"])).count("incident.overdue") == 3


async def test_transferred_days_and_independence_day_move_the_deadlines(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys)
    client_id = await client_of(world)
    cases = [
        ("2025-01-02T10:00:00+05:00", "2025-01-05", "2025-01-06"),  # 3 Jan off, Sunday 5 Jan worked
        ("2025-12-15T10:00:00+05:00", "2025-12-17", "2025-12-18"),  # 16 December
        ("2026-08-28T10:00:00+05:00", "2026-09-01", "2026-09-02"),  # 30 Aug on Sunday, 31 Aug off
        ("2026-05-08T10:00:00+05:00", "2026-05-12", "2026-05-13"),  # 9 May on Saturday, 11 May off
    ]
    for detected, one, two in cases:
        resp = await world.api.post("/v1/incidents", incident(client_id, detected_at=detected))
        assert resp.status == 201, await resp.text()
        deadlines = (await resp.json())["deadlines"]
        assert (deadlines["client"]["due_on"], deadlines["measures"]["due_on"]) == (one, two), detected


async def test_an_open_incident_notifies_exports_grey_lists_and_suspends_the_loan(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys)
    api = world.api
    client_id = await client_of(world)
    contract = await api.post("/v1/contracts", {"client_id": client_id, "sha256": "ab" * 32})
    assert contract.status == 201, await contract.text()
    contract_id = (await contract.json())["id"]

    resp = await api.post("/v1/incidents", incident(client_id, contract_id=contract_id))
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    incident_id = body["id"]
    assert body["status"] == "open"
    assert body["loan"] == {
        "contract_id": contract_id,
        "loan_ref": None,
        "interest_accrual": "suspended",
        "collection": "suspended",
    }
    assert body["grey_listed"] is True
    assert body["client_notification"]["sms_id"]
    # The contract reads as suspended too.
    report = await (await api.get(f"/v1/contracts/{contract_id}")).json()
    assert report["loan"] == {"interest_accrual": "suspended", "collection": "suspended", "incidents": [incident_id]}

    # The client's SMS went out through the outbox, naming the suspension.
    texts = await wait_for_messages(world.sms, ARMAN.phone.number, 1)
    assert len(texts) == 1 and "инцидент" in texts[0] and "приостановлены" in texts[0]

    # The Anti-fraud centre received the export with the client's identifiers.
    async def exported() -> bool:
        return (await afc_get(world.afc, f"/v1/incidents/{incident_id}"))[0] == 200

    await eventually(exported)
    _, report = await afc_get(world.afc, f"/v1/incidents/{incident_id}")
    assert report["client"] == {"iin": ARMAN.iin, "phone": ARMAN.phone.number}
    assert report["kind"] == "fraud" and report["confirmed_by_police"] is True
    assert report["loan"] == {"contract_id": contract_id, "loan_ref": None}

    async def acknowledged() -> bool:
        body = await (await api.get(f"/v1/incidents/{incident_id}")).json()
        return bool(body["afc"]["status"] == "exported")

    await eventually(acknowledged)
    afc = (await (await api.get(f"/v1/incidents/{incident_id}")).json())["afc"]
    assert afc["ref"] == report["afc_ref"]

    # Phone and IIN are on the lender's grey list while it is open.
    for kind, value in (("phone", ARMAN.phone.number), ("iin", ARMAN.iin)):
        found = await (await api.post("/v1/lists/lookup", {"kind": kind, "value": value})).json()
        assert found["listed"] is True and found["black"] is False
        assert [(e["list"], e["source"], e["source_ref"]) for e in found["entries"]] == [
            ("grey", "incident", incident_id)
        ]
    # Another lender does not see this lender's grey list.
    _, other_key = await api.new_lender()
    other = await (await api.post("/v1/lists/lookup", {"kind": "iin", "value": ARMAN.iin}, key=other_key)).json()
    assert other["listed"] is False
    assert (await api.get(f"/v1/incidents/{incident_id}", key=other_key)).status == 404

    # Recording the three actions, then closing: the loan resumes and the grey list entries go.
    for action in ("client_informed", "regulator_informed"):
        done = await api.post(f"/v1/incidents/{incident_id}/actions", {"action": action})
        assert done.status == 200, await done.text()
    early = await api.post(f"/v1/incidents/{incident_id}/actions", {"action": "close"})
    assert early.status == 409
    problem = await early.json()
    assert problem["code"] == "incident_incomplete" and problem["missing"] == ["measures"]
    again = await api.post(f"/v1/incidents/{incident_id}/actions", {"action": "client_informed"})
    assert again.status == 409 and (await again.json())["code"] == "incident_action_done"
    done = await api.post(f"/v1/incidents/{incident_id}/actions", {"action": "measures_taken"})
    assert (await done.json())["deadlines"]["measures"]["done_at"] is not None
    closed = await (await api.post(f"/v1/incidents/{incident_id}/actions", {"action": "close"})).json()
    assert closed["status"] == "closed" and closed["grey_listed"] is False
    assert closed["loan"]["interest_accrual"] == "active" and closed["loan"]["collection"] == "active"
    found = await (await api.post("/v1/lists/lookup", {"kind": "phone", "value": ARMAN.phone.number})).json()
    assert found == {"entries": [], "listed": False, "black": False}
    report = await (await api.get(f"/v1/contracts/{contract_id}")).json()
    assert report["loan"] == {"interest_accrual": "active", "collection": "active", "incidents": []}
    after = await api.post(f"/v1/incidents/{incident_id}/actions", {"action": "measures_taken"})
    assert after.status == 409 and (await after.json())["code"] == "incident_closed"

    events = await audit_events(world, incident_id)
    assert events.count("incident.action") == 3
    assert {"incident.opened", "incident.exported", "incident.closed", "list.entry_removed"} <= set(events)
    listed = await (await api.get("/v1/incidents?status=closed")).json()
    assert [i["id"] for i in listed["incidents"]] == [incident_id]


async def test_near_and_passed_deadlines_are_raised_once_each(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys, deadline_near_s=7200)
    api = world.api
    client_id = await client_of(world)
    body = await (await api.post("/v1/incidents", incident(client_id, loan_ref="L-77"))).json()
    incident_id = body["id"]
    client_due = datetime.fromisoformat(body["deadlines"]["client"]["due_at"])
    measures_due = datetime.fromisoformat(body["deadlines"]["measures"]["due_at"])
    service = api.app[INCIDENTS]

    assert await service.mark_deadlines(now=client_due - timedelta(hours=3)) == 0
    assert await service.mark_deadlines(now=client_due - timedelta(hours=1)) == 2  # client and regulator
    assert await service.mark_deadlines(now=client_due - timedelta(minutes=30)) == 0  # once
    near = world.notified.of("incident.deadline_near")
    assert sorted(d["item"] for d in near) == ["client", "regulator"]
    assert all(d["incident_id"] == incident_id for d in near)
    assert {lender for lender, _, _ in world.notified.events} == {api.lender_id}

    # The regulator was told in time; the client was not.
    done = await api.post(
        f"/v1/incidents/{incident_id}/actions",
        {"action": "regulator_informed", "at": (datetime.now(UTC)).isoformat()},
    )
    assert done.status == 200, await done.text()
    assert await service.mark_deadlines(now=client_due + timedelta(seconds=1)) == 1
    overdue = world.notified.of("incident.overdue")
    assert [d["item"] for d in overdue] == ["client"] and overdue[0]["status"] == "overdue"
    assert (await (await api.get(f"/v1/incidents/{incident_id}")).json())["status"] == "overdue"
    listed = await (await api.get("/v1/incidents?status=overdue")).json()
    assert [i["id"] for i in listed["incidents"]] == [incident_id]

    # Past the measures deadline: one more (near was skipped, it is overdue at once).
    assert await service.mark_deadlines(now=measures_due + timedelta(seconds=1)) == 1
    assert [d["item"] for d in world.notified.of("incident.overdue")] == ["client", "measures"]
    assert await service.mark_deadlines(now=measures_due + timedelta(days=1)) == 0
    events = await audit_events(world, incident_id)
    assert events.count("incident.deadline_near") == 2 and events.count("incident.overdue") == 2


async def test_refusals_answer_their_codes(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys)
    api = world.api
    arman = await client_of(world)
    dana = await client_of(world, DANA)
    contract = await (await api.post("/v1/contracts", {"client_id": dana, "sha256": "cd" * 32})).json()
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        (incident("no-such-client"), 404, "client_not_found"),
        (incident(arman, contract_id="no-such-contract"), 404, "contract_not_found"),
        (incident(arman, contract_id=contract["id"]), 422, "incident_contract_mismatch"),
        (incident(arman, detected_at=future), 422, "incident_bad_time"),
        (incident(arman, detected_at="2026-03-20T10:00:00"), 422, "incident_bad_time"),
        (incident(arman, detected_at="0001-01-01T00:00:00+05:00"), 422, "incident_bad_time"),
        (incident(arman, detected_at="2001-01-01T00:00:00Z"), 422, "incident_bad_time"),
        (incident(arman, kind="theft"), 422, "literal_error"),
        (incident(arman, confirmed_by_police="yes"), 422, "bool_type"),
        (incident(arman, extra=1), 422, "unknown_field"),
        ({"client_id": arman}, 422, "missing_field"),
    ]
    for body, status, code in cases:
        resp = await api.post("/v1/incidents", body)
        assert resp.status == status, (body, await resp.text())
        assert resp.content_type == "application/problem+json"
        assert (await resp.json())["code"] == code, body
    async with api.app[DB].autocommit() as tx:
        assert await tx.all(select(incidents.c.id)) == []  # nothing half-written
    assert (await api.get("/v1/incidents/nope")).status == 404
    assert (await (await api.get("/v1/incidents?status=pending")).json())["code"] == "validation_failed"
    made = await (await api.post("/v1/incidents", incident(arman))).json()
    bad = await api.post(f"/v1/incidents/{made['id']}/actions", {"action": "client_informed", "at": future})
    assert bad.status == 422 and (await bad.json())["code"] == "incident_bad_time"
    past = await api.post(
        f"/v1/incidents/{made['id']}/actions", {"action": "client_informed", "at": "2020-01-01T00:00:00Z"}
    )
    assert past.status == 422 and (await past.json())["code"] == "incident_bad_time"
    unknown = await api.post(f"/v1/incidents/{made['id']}/actions", {"action": "forgive"})
    assert unknown.status == 422
    assert (await api.post("/v1/incidents/nope/actions", {"action": "close"})).status == 404
