"""Grey and black lists over HTTP on SQLite and PostgreSQL (R-NB.8): the lender's own entries with their
audit entries, the Anti-fraud centre's national feed pulled in by the background task, `hits` as the
identification flow calls it, and no listed identifier in plaintext at rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from authsvc.api.state import DB, KEYS
from authsvc.audit.chainer import chain_all
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.lists.service import Identifiers, hits
from authsvc.store.schema import audit_log
from tests.incidents.kit import ARMAN, DANA, World, afc_get, afc_post, client_of, eventually, start

DEVICE = "android-8f1e2c3d4b5a"
IBAN = "KZ86125KZT5004100100"


async def lookup(world: World, kind: str, value: str, key: str | None = None) -> dict[str, Any]:
    resp = await world.api.post("/v1/lists/lookup", {"kind": kind, "value": value}, key=key)
    assert resp.status == 200, await resp.text()
    found: dict[str, Any] = await resp.json()
    return found


async def test_lender_entries_are_added_found_and_removed_with_audit(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys)
    api = world.api
    added = await api.post(
        "/v1/lists/entries", {"list": "black", "kind": "phone", "value": "8 701 234 56 78", "reason": "dropper"}
    )
    assert added.status == 201, await added.text()
    entry = await added.json()
    assert entry["list"] == "black" and entry["source"] == "lender" and entry["scope"] == "lender"
    assert "value" not in entry  # never kept, so never shown

    # Another spelling of the same number finds it; so does the identification flow's check.
    found = await lookup(world, "phone", "+77012345678")
    assert found["listed"] and found["black"] and [e["id"] for e in found["entries"]] == [entry["id"]]
    async with api.app[DB].autocommit() as tx:
        hit = await hits(tx, api.app[KEYS], Identifiers(phone="87012345678", iin=ARMAN.iin), lender_id=api.lender_id)
        assert [(h.kind, h.list, h.source, h.reason) for h in hit] == [("phone", "black", "lender", "dropper")]
        assert await hits(tx, api.app[KEYS], Identifiers(phone="87012345678")) == []  # national only

    dup = await api.post(
        "/v1/lists/entries", {"list": "black", "kind": "phone", "value": "+77012345678", "reason": "x"}
    )
    assert dup.status == 409 and (await dup.json())["code"] == "list_entry_exists"
    grey = await api.post(
        "/v1/lists/entries", {"list": "grey", "kind": "phone", "value": "+77012345678", "reason": "x"}
    )
    assert grey.status == 201  # the grey list is another list

    for kind, value in (("device_id", DEVICE), ("iban", IBAN.lower()), ("iin", DANA.iin)):
        resp = await api.post("/v1/lists/entries", {"list": "grey", "kind": kind, "value": value, "reason": "check"})
        assert resp.status == 201, await resp.text()
    async with api.app[DB].autocommit() as tx:
        hit = await hits(tx, api.app[KEYS], Identifiers(device_id=DEVICE, iban=IBAN), lender_id=api.lender_id)
        assert sorted(h.kind for h in hit) == ["device_id", "iban"]

    _, other_key = await api.new_lender()
    assert (await lookup(world, "phone", "+77012345678", key=other_key))["listed"] is False
    assert (await api.get(f"/v1/lists/entries/{entry['id']}", key=other_key)).status == 404
    assert (await api.client.delete(f"/v1/lists/entries/{entry['id']}", headers=api.headers(other_key))).status == 404

    listed = await (await api.get("/v1/lists/entries?list=black")).json()
    assert [e["id"] for e in listed["entries"]] == [entry["id"]]
    assert len((await (await api.get("/v1/lists/entries")).json())["entries"]) == 5

    gone = await api.client.delete(f"/v1/lists/entries/{entry['id']}", headers=api.headers())
    assert gone.status == 204
    assert (await lookup(world, "phone", "+77012345678"))["black"] is False
    assert (await api.get(f"/v1/lists/entries/{entry['id']}")).status == 404

    await chain_all(api.app[DB], api.app[KEYS])
    async with api.app[DB].autocommit() as tx:
        rows = await tx.all(select(audit_log.c.event, audit_log.c.subject, audit_log.c.details))
    mine = [r for r in rows if r["subject"] == entry["id"]]
    assert [r["event"] for r in mine] == ["list.entry_added", "list.entry_removed"]
    assert all("7012345678" not in r["details"] for r in rows)


async def test_bad_list_requests_answer_their_codes(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys)
    api = world.api
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"list": "black", "kind": "phone", "value": "12345", "reason": "x"}, 422, "invalid_phone"),
        ({"list": "black", "kind": "iin", "value": "12", "reason": "x"}, 422, "invalid_iin"),
        ({"list": "black", "kind": "iban", "value": "KZ00125KZT5004100100", "reason": "x"}, 422, "bad_checksum"),
        ({"list": "black", "kind": "device_id", "value": "a b", "reason": "x"}, 422, "list_bad_identifier"),
        ({"list": "white", "kind": "phone", "value": "+77012345678", "reason": "x"}, 422, "literal_error"),
        ({"list": "grey", "kind": "email", "value": "a@b.kz", "reason": "x"}, 422, "literal_error"),
        ({"list": "grey", "kind": "iin", "value": DANA.iin, "reason": "x", "expires_at": past}, 422, "list_bad_expiry"),
        ({"list": "grey", "kind": "iin", "value": DANA.iin}, 422, "missing_field"),
        (
            {
                "list": "grey",
                "kind": "iin",
                "value": DANA.iin,
                "reason": "x",
                "expires_at": "9999-12-31T23:00:00-05:00",
            },
            422,
            "list_bad_expiry",
        ),
        (
            {"list": "grey", "kind": "iin", "value": DANA.iin, "reason": "x", "expires_at": "2030-01-01T00:00:00"},
            422,
            "list_bad_expiry",
        ),
    ]
    for body, status, code in cases:
        resp = await api.post("/v1/lists/entries", body)
        assert resp.status == status, (body, await resp.text())
        assert (await resp.json())["code"] == code, body
    assert (await (await api.get("/v1/lists/entries")).json())["entries"] == []
    bad = await api.post("/v1/lists/lookup", {"kind": "phone", "value": "+1 555"})
    assert bad.status == 422
    assert (await api.get("/v1/lists/entries?list=white")).status == 422

    # An incident's entries are not the lender's to delete: closing the incident removes them.
    client_id = await client_of(world)
    incident = await api.post(
        "/v1/incidents",
        {"client_id": client_id, "kind": "unauthorised_access", "confirmed_by_police": False, "description": "x"},
    )
    assert incident.status == 201
    entries = (await lookup(world, "iin", ARMAN.iin))["entries"]
    resp = await api.client.delete(f"/v1/lists/entries/{entries[0]['id']}", headers=api.headers())
    assert resp.status == 409 and (await resp.json())["code"] == "list_entry_not_managed"


async def test_the_afc_feed_is_pulled_into_the_national_lists(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys, afc_poll_s=0.1)
    status, black = await afc_post(
        world.afc, "/admin/lists", {"list": "black", "kind": "phone", "value": DANA.phone.number, "reason": "dropper"}
    )
    assert status == 201
    await afc_post(world.afc, "/admin/lists", {"list": "grey", "kind": "iin", "value": ARMAN.iin, "reason": "mule"})
    await afc_post(world.afc, "/admin/lists", {"list": "grey", "kind": "phone", "value": "not a phone"})

    async def listed() -> bool:
        return bool((await lookup(world, "iin", ARMAN.iin))["listed"])

    await eventually(listed)
    found = await lookup(world, "phone", DANA.phone.number)
    assert [(e["list"], e["source"], e["scope"], e["reason"]) for e in found["entries"]] == [
        ("black", "afc", "national", "dropper")
    ]
    assert found["entries"][0]["source_ref"] == black["entry_id"]
    _, other_key = await world.api.new_lender()
    assert (await lookup(world, "phone", DANA.phone.number, key=other_key))["black"] is True  # national
    async with world.api.app[DB].autocommit() as tx:
        found_hits = await hits(tx, world.api.app[KEYS], Identifiers(phone=DANA.phone.number, iin=ARMAN.iin))
    assert [(h.kind, h.list, h.source, h.scope) for h in found_hits] == [
        ("phone", "black", "afc", "national"),
        ("iin", "grey", "afc", "national"),
    ]

    # The AFC takes an entry off: the next pull removes it; a failing AFC delays, never loses, a change.
    await afc_post(world.afc, "/admin/faults", {"kind": "error", "count": 4, "path": "/v1/lists"})
    async with aiohttp.ClientSession() as s, s.delete(world.afc.make_url(f"/admin/lists/{black['entry_id']}")) as resp:
        assert resp.status == 200

    async def unlisted() -> bool:
        return not (await lookup(world, "phone", DANA.phone.number))["listed"]

    await eventually(unlisted)
    assert (await lookup(world, "iin", ARMAN.iin))["listed"] is True
    _, seen = await afc_get(world.afc, "/admin/requests")
    assert [r["fault"] for r in seen["requests"] if r["path"] == "/v1/lists/changes"].count("error") == 4


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_no_listed_identifier_or_description_in_plaintext_at_rest(
    aiohttp_client: Any, aiohttp_server: Any, dsn: str, keys: LocalKeyStore
) -> None:
    world = await start(aiohttp_client, aiohttp_server, dsn, keys)
    api = world.api
    client_id = await client_of(world)
    secret = "SECRET-DESCRIPTION-5521 stolen passport"
    resp = await api.post(
        "/v1/incidents", {"client_id": client_id, "kind": "fraud", "confirmed_by_police": True, "description": secret}
    )
    assert resp.status == 201
    for kind, value in (("device_id", DEVICE), ("iban", IBAN), ("phone", DANA.phone.number), ("iin", DANA.iin)):
        assert (
            await api.post("/v1/lists/entries", {"list": "black", "kind": kind, "value": value, "reason": "r"})
        ).status == 201
    await chain_all(api.app[DB], api.app[KEYS])
    db = Path(make_url(dsn).database or "")
    blob = b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))
    assert len(blob) > 10_000
    for value in (
        DEVICE,
        IBAN,
        DANA.phone.number,
        DANA.phone.number[2:],
        DANA.iin,
        ARMAN.iin,
        ARMAN.phone.number[2:],
        secret[:24],
    ):
        assert value.encode() not in blob, value
        assert value.encode().hex().encode() not in blob.lower(), value
