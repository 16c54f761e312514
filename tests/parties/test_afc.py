"""The Anti-fraud centre client against its simulator over HTTP (R-NB.8): the feed's pages and cursor,
the idempotent incident export, and the failures (timeouts, 5xx, garbage, refusals) as stable codes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from authsvc.errors import Conflict, UpstreamUnavailable
from authsvc.parties.afc import AfcClient, IncidentReport
from simulators.afc.app import create_app
from tests.parties.simkit import ATTEMPTS, arm, calls_seen, endpoint, refused_url

REPORT = IncidentReport(
    incident_id="inc-1",
    lender_id="lender-1",
    lender_name="Test MFO",
    kind="fraud",
    confirmed_by_police=True,
    detected_at=datetime(2026, 3, 20, 11, 30, tzinfo=UTC),
    iin="900101300126",
    phone="+77771234567",
    contract_id=None,
    loan_ref="L-1",
    description="remote-access app",
)


@pytest.fixture
async def afc(aiohttp_server: Any) -> TestServer:
    server: TestServer = await aiohttp_server(create_app())
    return server


async def add(session: aiohttp.ClientSession, server: TestServer, **entry: Any) -> dict[str, Any]:
    async with session.post(server.make_url("/admin/lists"), json=entry) as resp:
        assert resp.status == 201
        body: dict[str, Any] = await resp.json()
        return body


async def test_the_feed_pages_through_changes_with_its_cursor(afc: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        client = AfcClient(session, endpoint(afc, "afc"))
        empty = await client.changes(None)
        assert empty.changes == [] and empty.more is False
        for n in range(3):
            await add(session, afc, list="grey", kind="phone", value=f"+7701000000{n}", reason="r")
        first = await client.changes(empty.cursor, limit=2)
        assert [c.value for c in first.changes] == ["+77010000000", "+77010000001"] and first.more
        rest = await client.changes(first.cursor, limit=2)
        assert [c.value for c in rest.changes] == ["+77010000002"] and not rest.more
        async with session.delete(afc.make_url(f"/admin/lists/{first.changes[0].entry_id}")) as resp:
            assert resp.status == 200
        removal = await client.changes(rest.cursor)
        assert [(c.op, c.entry_id) for c in removal.changes] == [("remove", first.changes[0].entry_id)]
        assert (await client.changes(removal.cursor)).changes == []


async def test_an_export_is_idempotent_and_a_changed_one_conflicts(afc: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        client = AfcClient(session, endpoint(afc, "afc"))
        first = await client.report_incident(REPORT)
        again = await client.report_incident(REPORT)
        assert first == again and first.afc_ref.startswith("AFC-")
        with pytest.raises(Conflict) as conflict:
            await client.report_incident(REPORT.__class__(**{**REPORT.__dict__, "kind": "alteration"}))
        assert conflict.value.code == "afc_incident_conflict"
        async with session.get(afc.make_url("/v1/incidents/inc-1")) as resp:
            stored = await resp.json()
        assert stored["client"] == {"iin": REPORT.iin, "phone": REPORT.phone}
        assert stored["loan"] == {"contract_id": None, "loan_ref": "L-1"}


async def test_a_503_is_retried_and_the_incident_recorded_once(afc: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        await arm(session, afc, "error", status=503, path="/v1/incidents")
        receipt = await AfcClient(session, endpoint(afc, "afc")).report_incident(REPORT)
        assert receipt.incident_id == "inc-1"
        async with session.get(afc.make_url("/v1/incidents")) as resp:
            assert len((await resp.json())["incidents"]) == 1
        posts = [c for c in await calls_seen(session, afc) if c["method"] == "POST"]
        assert [c["fault"] for c in posts] == ["error", None]


@pytest.mark.parametrize(
    ("kind", "options", "code", "tries"),
    [
        ("timeout", {"delay_ms": 2000}, "upstream_timeout", ATTEMPTS),
        ("error", {"status": 500}, "upstream_bad_response", ATTEMPTS),
        ("malformed", {}, "upstream_bad_response", ATTEMPTS),
        ("bad_shape", {}, "upstream_bad_response", 1),  # well-formed JSON of the wrong shape: not retried
        ("disconnect", {}, "upstream_unreachable", ATTEMPTS),
    ],
)
async def test_failures_have_stable_codes_after_bounded_retries(
    afc: TestServer, kind: str, options: dict[str, Any], code: str, tries: int
) -> None:
    async with aiohttp.ClientSession() as session:
        await arm(session, afc, kind, count=None, path="/v1/lists", **options)
        with pytest.raises(UpstreamUnavailable) as failed:
            await AfcClient(session, endpoint(afc, "afc")).changes(None)
        assert failed.value.code == code
        seen = len(await calls_seen(session, afc))
        # aiohttp itself repeats a GET once when a kept-alive connection is dropped: still bounded.
        assert tries <= seen <= (2 * tries if kind == "disconnect" else tries)


async def test_refused_connections_and_refusals(afc: TestServer) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(UpstreamUnavailable) as refused:
            await AfcClient(session, endpoint(refused_url(), "afc")).changes(None)
        assert refused.value.code == "upstream_unreachable"
        with pytest.raises(UpstreamUnavailable) as bad_cursor:
            await AfcClient(session, endpoint(afc, "afc")).changes("not-a-cursor")
        assert bad_cursor.value.code == "upstream_rejected"
        bad_iin = REPORT.__class__(**{**REPORT.__dict__, "iin": "123"})
        with pytest.raises(UpstreamUnavailable) as rejected:
            await AfcClient(session, endpoint(afc, "afc")).report_incident(bad_iin)
        assert rejected.value.code == "upstream_rejected"
