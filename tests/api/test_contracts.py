"""Loan contracts (R-10.1, R-12.1): register, sign with the client's EDS, re-verify offline, catch alterations."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from authsvc.api.state import DB, VERIFIER
from authsvc.crypto.envelope import RecordCipher, WrappedKey
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import contracts
from simulators.nca.signer import sign_cms
from tests.api.test_eds_simulator import (  # noqa: F401 - fixtures
    Simulator,
    nca_port,
    nca_template,
    pair_of,
    register,
    sim_api,
    simulator,
)
from tests.conftest import Api, individual
from tests.methods.factorkit import PEOPLE, sent_code, start_parties, start_service
from tests.methods.factorkit import register as register_person

DOCUMENT = "Договор микрокредита № 42: 150 000 тенге на 30 дней.".encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _contract(api: Api, client: str, **body: Any) -> dict[str, Any]:
    resp = await api.post("/v1/contracts", {"client_id": client, **body})
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def _sign(api: Api, contract: str, cms: bytes, **extra: Any) -> Any:
    return await api.post(f"/v1/contracts/{contract}/sign", {"method": "eds", "cms": b64(cms), **extra})


async def _report(api: Api, contract: str) -> dict[str, Any]:
    resp = await api.get(f"/v1/contracts/{contract}")
    assert resp.status == 200, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def _reseal(api: Api, keys: LocalKeyStore, contract: str, document: bytes) -> None:
    """What an insider with the database and the keys could do: swap the stored document."""
    engine = api.app[DB].engine
    async with engine.begin() as conn:
        row = (await conn.execute(select(contracts).where(contracts.c.id == contract))).one()
        cipher = RecordCipher.open(keys, row.id, WrappedKey(row.kek_id, row.data_key))
        body = cipher.unseal_json("contract", row.sealed)
        body["document"] = b64(document)
        await conn.execute(
            update(contracts).where(contracts.c.id == contract).values(sealed=cipher.seal_json("contract", body))
        )


async def test_crl_evidence_is_archived_and_rechecked_offline(
    simulator: Simulator,  # noqa: F811 - the fixture imported above
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    """Issue 3 §6: a signature whose revocation answer came from a CRL is re-checked years later from the
    archived CRL, without the network; an archived CRL that was tampered with is caught."""
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path, revocation_order="crl_only")
    cache = api.app[VERIFIER].crl_cache
    assert cache is not None
    await cache.refresh()
    client = await register(api, individual())
    created = await _contract(api, client, document=b64(DOCUMENT), title="loan 43")
    holder = pair_of(await simulator.issue())
    resp = await _sign(api, created["id"], sign_cms(holder, DOCUMENT, detached=True))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["details"]["revocation"][0]["source"] == "crl"

    simulator.stop()  # years later: no OCSP responder, no CRL, no CA download
    [signature] = (await _report(api, created["id"]))["signatures"]
    assert signature["valid"] and signature["reasons"] == [], signature
    [checked] = signature["details"]["revocation"]
    assert (checked["source"], checked["status"], checked["verified_offline"]) == ("crl", "good", True)

    archive = tmp_path / "pki" / "archive"
    for kept in archive.glob("*.crl"):  # flip a byte of every archived CRL
        body = bytearray(kept.read_bytes())
        body[len(body) // 2] ^= 1
        kept.write_bytes(bytes(body))
    [tampered] = (await _report(api, created["id"]))["signatures"]
    assert not tampered["valid"] and "revocation_evidence_invalid" in tampered["reasons"]


async def test_sign_then_reverify_offline_and_catch_alterations(
    simulator: Simulator,  # noqa: F811 - the fixture imported above
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path)
    client = await register(api, individual())
    created = await _contract(api, client, document=b64(DOCUMENT), title="loan 42")
    assert created["sha256"] == hashlib.sha256(DOCUMENT).hexdigest() and created["status"] == "unsigned"
    unsigned = await _report(api, created["id"])
    assert not unsigned["valid"] and unsigned["document_intact"] is True and unsigned["signatures"] == []

    holder = pair_of(await simulator.issue())
    cms = sign_cms(holder, DOCUMENT, detached=True)
    resp = await _sign(api, created["id"], cms)
    assert resp.status == 201, await resp.text()
    signed = await resp.json()
    assert signed["details"]["revocation"] == [{"source": "ocsp", "status": "good"}]
    assert (await _sign(api, created["id"], cms)).status == 409  # the same CMS twice

    simulator.stop()  # years later: no OCSP responder, no CRL, no CA download
    report = await _report(api, created["id"])
    assert report["valid"] and report["status"] == "signed" and report["document_intact"] is True
    [signature] = report["signatures"]
    assert signature["valid"] and signature["reasons"] == [] and signature["method"] == "eds"
    assert signature["details"]["revocation"] == [{"source": "ocsp", "status": "good", "verified_offline": True}]

    await _reseal(api, keys, created["id"], DOCUMENT.replace(b"150 000", b"950 000"))
    altered = await _report(api, created["id"])
    assert not altered["valid"] and altered["document_intact"] is False
    assert {"message_digest_mismatch", "document_mismatch", "document_altered"} <= set(
        altered["signatures"][0]["reasons"]
    )

    async with api.app[DB].engine.begin() as conn:  # an outsider without the keys flips one byte
        row = (await conn.execute(select(contracts.c.sealed).where(contracts.c.id == created["id"]))).one()
        flipped = bytes([row.sealed[0] ^ 1]) + row.sealed[1:]
        await conn.execute(update(contracts).where(contracts.c.id == created["id"]).values(sealed=flipped))
    resp = await api.get(f"/v1/contracts/{created['id']}")
    assert resp.status == 409 and (await resp.json())["code"] == "contract_altered"


async def test_hash_only_contracts_and_rejected_signatures(
    simulator: Simulator,  # noqa: F811 - the fixture imported above
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path)
    client = await register(api, individual())
    created = await _contract(api, client, sha256=hashlib.sha256(DOCUMENT).hexdigest())
    assert created["has_document"] is False
    holder = pair_of(await simulator.issue(algorithm="rsa"))

    resp = await _sign(api, created["id"], sign_cms(holder, DOCUMENT, detached=True))
    assert resp.status == 422 and (await resp.json())["code"] == "document_required"
    resp = await _sign(api, created["id"], sign_cms(holder, DOCUMENT), document=b64(b"another text"))
    assert resp.status == 422 and (await resp.json())["code"] == "document_mismatch"
    resp = await _sign(api, created["id"], sign_cms(holder, b"another text"))
    problem = await resp.json()
    assert (
        resp.status == 422 and problem["code"] == "signature_rejected" and problem["reasons"] == ["document_mismatch"]
    )
    stranger = pair_of(await simulator.issue(iin="900101300126", algorithm="rsa"))
    resp = await _sign(api, created["id"], sign_cms(stranger, DOCUMENT))
    assert resp.status == 422 and (await resp.json())["reasons"] == ["iin_mismatch"]

    resp = await _sign(api, created["id"], sign_cms(holder, DOCUMENT))  # attached: the CMS carries the document
    assert resp.status == 201, await resp.text()
    report = await _report(api, created["id"])
    assert report["valid"] and report["document_intact"] is None and report["signatures"][0]["valid"]

    _, other_key = await api.new_lender()
    assert (await api.get(f"/v1/contracts/{created['id']}", key=other_key)).status == 404
    resp = await api.post("/v1/contracts", {"client_id": client, "document": b64(DOCUMENT), "sha256": "00" * 32})
    assert resp.status == 422 and (await resp.json())["code"] == "document_mismatch"
    resp = await api.post("/v1/contracts", {"client_id": client})
    assert resp.status == 422 and (await resp.json())["code"] == "document_required"


async def test_one_time_code_signs_this_document_once(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, aiohttp_server: Any
) -> None:
    """R-10.1's other path: a code sent by SMS (issue 5's OTP service) bound to the document's SHA-256."""
    parties = await start_parties(aiohttp_server)
    api = await start_service(aiohttp_client, dsn, keys, parties, verify_free_failures=10)
    person = PEOPLE["arman"]
    client = await register_person(api, person)
    created = await _contract(api, client, document=b64(DOCUMENT))
    resp = await api.post(f"/v1/contracts/{created['id']}/code", {})
    assert resp.status == 202, await resp.text()
    code = await sent_code(parties, person.phone.number)
    wrong = "0" * 6 if code != "0" * 6 else "1" * 6
    bad = await api.post(f"/v1/contracts/{created['id']}/sign", {"method": "otp", "code": wrong})
    assert bad.status == 422 and (await bad.json())["code"] == "otp_rejected"
    assert (await _report(api, created["id"]))["status"] == "unsigned"  # a wrong code signs nothing
    resp = await api.post(f"/v1/contracts/{created['id']}/sign", {"method": "otp", "code": code})
    assert resp.status == 201, await resp.text()
    again = await api.post(f"/v1/contracts/{created['id']}/sign", {"method": "otp", "code": code})
    # A code signs once: the repeat is "already used" (issue 11.7), not a wrong guess.
    assert again.status == 409 and (await again.json())["code"] == "otp_already_used"
    report = await _report(api, created["id"])
    assert report["valid"] and [(s["method"], s["valid"]) for s in report["signatures"]] == [("otp", True)]
