"""POST/GET/PATCH /v1/clients on SQLite and PostgreSQL (R-6.1, R-6.2, R-6.6, R-6.7)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select

from authsvc.api.state import CLIENT_REGISTRY, DB, KEYS, SETTINGS
from authsvc.audit import records as audit
from authsvc.audit.chainer import chain_all
from authsvc.store.schema import client_files, clients
from tests.conftest import PDF, Api, b64, individual, jpeg, legal_entity
from tests.flowkit import registered


async def count(api: Api, table: Any) -> int:
    async with api.app[DB].engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_register_individual_answers_masked_record(api: Api) -> None:
    body = individual()
    resp = await api.post("/v1/clients", body)
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert out["kind"] == "individual"
    assert out["person"]["iin"] == "********1188"
    assert out["person"]["name"] == "Ж******* Е**** С********"
    assert out["phone"] == "+7701*****78"
    assert out["iban"] == "KZ86************0100"
    assert out["card"]["last4"] == "1111" and out["card"]["token"].startswith("tok_")
    assert out["test_pki"] is False
    photo = jpeg()
    assert out["files"] == [
        {"kind": "photo", "content_type": "image/jpeg", "size": len(photo), "sha256": hashlib.sha256(photo).hexdigest()}
    ]
    assert resp.headers["Location"] == f"/v1/clients/{out['id']}"
    got = await api.get(f"/v1/clients/{out['id']}")
    assert got.status == 200 and await got.json() == out
    assert "4111111111111111" not in json.dumps(out)


async def test_register_legal_entity_records_scans(api: Api) -> None:
    resp = await api.post("/v1/clients", legal_entity())
    assert resp.status == 201, await resp.text()
    out = await resp.json()
    assert out["bin"] == "********1315" and out["authority"] == "head"
    kinds = {f["kind"]: f for f in out["files"]}
    assert set(kinds) == {"photo", "registration_certificate", "appointment_order"}
    assert kinds["registration_certificate"]["sha256"] == hashlib.sha256(PDF).hexdigest()


async def test_legal_entity_must_bring_the_authority_document(api: Api) -> None:
    body = legal_entity()
    body["representative"]["authority"] = "power_of_attorney"
    resp = await api.post("/v1/clients", body)
    assert resp.status == 422
    problem = await resp.json()
    assert problem["code"] == "documents_missing" and "power_of_attorney" in problem["detail"]


async def test_same_card_gives_same_token_across_clients(api: Api) -> None:
    a = await (await api.post("/v1/clients", individual())).json()
    b = await (await api.post("/v1/clients", individual(iin="900101300017"))).json()
    assert a["card"]["token"] == b["card"]["token"]


async def test_nca_test_numbers_only_in_test_pki_mode_and_flagged(api: Api) -> None:
    resp = await api.post("/v1/clients", individual(iin="123456789011"))
    assert resp.status == 201
    assert (await resp.json())["test_pki"] is True
    api.app[CLIENT_REGISTRY].test_pki = False
    resp = await api.post("/v1/clients", individual(iin="123456789012"))
    assert resp.status == 422 and (await resp.json())["code"] == "bad_checksum"


async def test_duplicate_iin_for_same_lender_is_409_but_other_lender_may_register(api: Api) -> None:
    assert (await api.post("/v1/clients", individual())).status == 201
    dup = await api.post("/v1/clients", individual(phone="+77051234567"))
    assert dup.status == 409 and (await dup.json())["code"] == "duplicate_client"
    _, other_key = await api.new_lender()
    assert (await api.post("/v1/clients", individual(), key=other_key)).status == 201
    assert await count(api, clients) == 2


async def test_other_lenders_client_is_not_found(api: Api) -> None:
    out = await (await api.post("/v1/clients", individual())).json()
    _, other_key = await api.new_lender()
    resp = await api.get(f"/v1/clients/{out['id']}", key=other_key)
    assert resp.status == 404 and (await resp.json())["code"] == "client_not_found"
    resp = await api.post("/v1/clients/lookup", {"iin": "811201401188"}, key=other_key)
    assert (await resp.json())["items"] == []


async def test_lookup_by_iin_uses_the_keyed_index(api: Api) -> None:
    out = await (await api.post("/v1/clients", individual())).json()
    found = await (await api.post("/v1/clients/lookup", {"iin": "811201401188"})).json()
    assert [c["id"] for c in found["items"]] == [out["id"]]
    none = await (await api.post("/v1/clients/lookup", {"iin": "900101300017"})).json()
    assert none["items"] == []


BAD_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"iin": "811201401189"}, "bad_checksum"),
    ({"iin": "8112014011"}, "string_too_short"),
    ({"phone": "+77172123456"}, "not_mobile"),
    ({"phone": "12345"}, "invalid_phone"),
    ({"bank_account": {"iban": "KZ87125KZT5004100100"}}, "bad_checksum"),
    ({"card": {"number": "4111111111111112"}}, "bad_checksum"),
    ({"id_document": {"type": "id_card", "number": "041234567", "expires_on": "2026-11-20"}}, "document_expired"),
    ({"photo": {"content_type": "image/jpeg", "data": "not base64!"}}, "bad_base64"),
    ({"photo": {"content_type": "image/jpeg", "data": b64(PDF)}}, "unsupported_file_type"),
    ({"photo": {"content_type": "image/png", "data": b64(jpeg())}}, "content_type_mismatch"),
    ({"photo": {"content_type": "image/jpeg", "data": b64(jpeg(100, 120))}}, "image_too_small"),
    ({"photo": {"content_type": "image/jpeg", "data": b64(b"\xff\xd8\xff" + b"\x00" * 100)}}, "corrupt_image"),
    ({"iin": 811201401188}, "string_type"),
    ({"nickname": "x"}, "unknown_field"),
    ({"bank_account": None, "card": None}, "payout_details_required"),
]


async def test_each_bad_field_gets_its_code_and_writes_nothing(api: Api) -> None:
    for over, code in BAD_FIELDS:
        resp = await api.post("/v1/clients", individual(**over))
        problem = await resp.json()
        assert resp.status == 422, (over, problem)
        assert resp.content_type == "application/problem+json"
        assert problem["code"] == code, (over, problem)
        assert problem["status"] == 422 and problem["detail"] and problem["type"].endswith(code)
    assert await count(api, clients) == 0
    assert await count(api, client_files) == 0
    await chain_all(api.app[DB], api.app[KEYS])
    async with api.app[DB].autocommit() as conn:
        entries, _ = await audit.read_all(conn)
    assert {e.event for e in entries} == {"config.changed", "service.started"}  # nothing about the refusals


async def test_photo_too_large_is_refused_before_decoding(api: Api) -> None:
    api.app[CLIENT_REGISTRY].limits = api.app[CLIENT_REGISTRY].limits.model_copy(update={"photo_max_bytes": 2048})
    resp = await api.post("/v1/clients", individual())
    assert resp.status == 422 and (await resp.json())["code"] == "file_too_large"


async def test_terminal_payout_needs_no_bank_details(api: Api) -> None:
    resp = await api.post("/v1/clients", individual(bank_account=None, card=None, payout_via_terminal=True))
    assert resp.status == 201
    out = await resp.json()
    assert out["iban"] is None and out["card"] is None and out["payout_via_terminal"] is True


async def _completed_change_identification(api: Api, client_id: str) -> str:
    """A change_contact identification completed through the flow (registration first, R-6.4)."""
    token = await registered(api, client_id)
    return await token.complete("change_contact")


async def test_patch_needs_a_completed_change_contact_identification_used_once(api: Api) -> None:
    out = await (await api.post("/v1/clients", individual())).json()
    cid = out["id"]
    refused = await api.patch(f"/v1/clients/{cid}", {"identification_id": "nope", "phone": "+77051234567"})
    assert refused.status == 422 and (await refused.json())["code"] == "identification_required"

    token = await registered(api, cid)
    body = {"client_id": cid, "operation": "change_contact", "profile": "test-token"}
    pending = await (await api.post("/v1/identifications", body)).json()
    refused = await api.patch(f"/v1/clients/{cid}", {"identification_id": pending["id"], "phone": "+77051234567"})
    assert refused.status == 422

    ident = await token.complete("change_contact")
    ok = await api.patch(
        f"/v1/clients/{cid}",
        {"identification_id": ident, "phone": "+77051234567", "card": {"number": "5555555555554444"}},
    )
    assert ok.status == 200, await ok.text()
    changed = await ok.json()
    assert changed["phone"] == "+7705*****67" and changed["card"]["last4"] == "4444" and changed["version"] == 2
    again = await api.patch(f"/v1/clients/{cid}", {"identification_id": ident, "phone": "+77011112233"})
    assert again.status == 422 and (await again.json())["code"] == "identification_required"


async def test_identification_for_another_operation_does_not_authorise_a_change(api: Api) -> None:
    cid = (await (await api.post("/v1/clients", individual())).json())["id"]
    token = await registered(api, cid)
    login = await token.complete("login")
    resp = await api.patch(f"/v1/clients/{cid}", {"identification_id": login, "phone": "+77051234567"})
    assert resp.status == 422


async def test_iin_and_bin_never_change(api: Api) -> None:
    cid = (await (await api.post("/v1/clients", individual())).json())["id"]
    ident = await _completed_change_identification(api, cid)
    for field in ("iin", "bin"):
        resp = await api.patch(f"/v1/clients/{cid}", {"identification_id": ident, field: "900101300017"})
        assert resp.status == 422 and (await resp.json())["code"] == "iin_immutable"
    # The refused attempts did not use up the identification.
    ok = await api.patch(f"/v1/clients/{cid}", {"identification_id": ident, "phone": "+77051234567"})
    assert ok.status == 200


async def test_registration_is_audited_and_the_chain_verifies(api: Api) -> None:
    from authsvc.audit.verify import verify_database

    out = await (await api.post("/v1/clients", individual())).json()
    await chain_all(api.app[DB], api.app[KEYS])
    async with api.app[DB].autocommit() as conn:
        entries, _ = await audit.read_all(conn)
    registered = [e for e in entries if e.event == "client.registered"]
    assert [e.subject for e in registered] == [out["id"]]
    assert "811201401188" not in registered[0].details
    report = await verify_database(api.app[SETTINGS].database.dsn, api.app[KEYS], None)
    assert report.ok, report.findings
