"""The identity document in registration and the liveness step (R-7.3b(i)), over HTTP.

The document is an ID-card front rendered by `simulators.capture.document` around a real photo of the
person (the shared fixtures hold no ID-card images); the live capture is rendered by the capture simulator
from another photo, and the registration photo is a third. Each liveness decision costs ~1.5 s of CPU:
the journeys below take as few as tell what they check.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import numpy as np
import pytest
from sqlalchemy import delete, select, update

from authsvc.api.state import CLIENT_REGISTRY, DB
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import client_files, face_references
from liveness.match import MatchSettings
from simulators.capture.document import card_back
from tests.api.documents import DOCUMENT_PHOTO, document_of, image_field, jpeg, post_client
from tests.api.test_liveness_step import (
    REGISTRATION_PHOTO,
    as_mp4,
    passed_capture,
    render,
    script_for,
    submit,
)
from tests.cabinet.pdfs import card_pdf, encrypted_pdf, typed_pdf
from tests.conftest import Api, individual, make_settings, start_api
from tests.shared import fixture_path

STRANGER = ("faces-more", "p02_1.jpg")


async def registered(api: Api, document: bytes | None = None, **over: Any) -> str:
    photo = image_field(fixture_path("faces", REGISTRATION_PHOTO).read_bytes())
    extra = {"id_document_image": image_field(document)} if document is not None else {}
    resp = await post_client(api, individual(photo=photo, **extra, **over))
    assert resp.status == 201, await resp.text()
    client_id: str = (await resp.json())["id"]
    return client_id


async def opened(api: Api, client_id: str, profile: str | None = None) -> str:
    body = {"client_id": client_id, "operation": "registration"} | ({"profile": profile} if profile else {})
    resp = await api.post("/v1/identifications", body)
    assert resp.status == 201, await resp.text()
    ident: str = (await resp.json())["id"]
    return ident


async def submit_with_document(api: Api, ident: str, challenge: str, video: bytes, document: bytes) -> Any:
    form = aiohttp.FormData()
    form.add_field("challenge_id", challenge)
    form.add_field("video", video, filename="capture.mp4", content_type="video/mp4")
    form.add_field("id_document_image", document, filename="card.jpg", content_type="image/jpeg")
    return await api.client.post(f"/v1/identifications/{ident}/liveness", data=form, headers=api.headers())


def score(verdict: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in verdict["checks"] if c["name"] == name]
    assert len(found) == 1, verdict["checks"]
    return found[0]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_persons_document_matches_and_another_persons_fails_the_match(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    client_id = await registered(api, document_of("faces", DOCUMENT_PHOTO))
    files = (await (await api.get(f"/v1/clients/{client_id}")).json())["files"]
    assert [f["kind"] for f in files] == ["photo", "id_document"]
    ident = await opened(api, client_id)

    # The live face matched to both references, each scored under its own threshold.
    _challenge, _script, _video, verdict = await passed_capture(api, ident)
    match = MatchSettings()
    assert verdict["matched"] == ["registration", "document"], verdict
    face, doc = score(verdict, "face_match"), score(verdict, "document_match")
    assert face["passed"] and face["gating"] and 0 < face["score"] <= match.registration_threshold
    assert doc["passed"] and doc["gating"] and 0 < doc["score"] <= match.document_threshold
    got = await (await api.get(f"/v1/identifications/{ident}")).json()
    details = [s["details"] for s in got["steps"] if s["method"] == "liveness"][-1]
    assert details["matched"] == ["registration", "document"]
    assert {c["name"]: c["score"] for c in details["checks"]}["document_match"] == doc["score"]

    # Another person's document given with the next capture: the same live face fails the document match,
    # still matches the registration photo, and the document is not kept as the client's.
    challenge, script = await script_for(api, ident)
    resp = await submit_with_document(api, ident, challenge, as_mp4(render(script, seed=4)), document_of(*STRANGER))
    assert resp.status == 200, await resp.text()
    refused = await resp.json()
    assert refused["passed"] is False and "document_match" in refused["reasons"], refused
    assert score(refused, "face_match")["passed"] and "face_match" not in refused["reasons"]
    assert score(refused, "document_match")["score"] > match.document_threshold
    assert refused["matched"] == ["registration"]
    files = (await (await api.get(f"/v1/clients/{client_id}")).json())["files"]
    assert [f["kind"] for f in files] == ["photo", "id_document"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_document_without_a_portrait_is_refused_at_registration_and_with_a_capture(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    back = jpeg(card_back(np.random.default_rng(5), width=640))
    photo = image_field(fixture_path("faces", REGISTRATION_PHOTO).read_bytes())
    resp = await post_client(api, individual(photo=photo, id_document_image=image_field(back)))
    problem = await resp.json()
    assert resp.status == 422 and resp.content_type == "application/problem+json", problem
    assert problem["code"] == "document_no_portrait"
    assert problem["errors"][0]["loc"] == "id_document_image", problem
    # Nothing of the refused registration was written: the same person registers afterwards.
    client_id = await registered(api)

    ident = await opened(api, client_id)
    challenge, _script = await script_for(api, ident)
    resp = await submit_with_document(api, ident, challenge, b"not looked at", back)
    problem = await resp.json()
    assert resp.status == 422 and problem["code"] == "document_no_portrait", problem
    # Refused before the script was spent: the same script still takes a capture (with a good document).
    good = document_of("faces", DOCUMENT_PHOTO)
    again = await submit_with_document(api, ident, challenge, b"not a video" * 100, good)
    assert again.status == 422 and (await again.json())["code"] == "capture_undecodable"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_res63_requires_the_document_and_an_identification_says_so(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    """R-7.3b(i): the two-factor method's software "checks the client's real-time image against the image in
    the identity document", so res63-2021 (and every profile extending it; a deployment's own too,
    tests/data/profiles/test-document.toml) requires the match: a client without a document image cannot take
    the liveness step until one is given, the identification names it among what is missing, and the script
    stays unspent."""
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    for name in ("res63-2021", "res108", "nb-2025", "bank-2025", "test-document"):
        explained = await (await api.get(f"/v1/profiles/{name}")).json()
        assert explained["liveness"] == {"document_match": "required", "requirement": "R-7.3b(i)"}, explained

    ident = await opened(api, await registered(api))  # the default profile: res63-2021
    state = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert state["profile"] == "res63-2021" and "liveness" in state["next_methods"]
    (need,) = state["needs"]
    assert need["method"] == "liveness" and need["input"] == "id_document_image", need
    assert need["requirement"] == "R-7.3b(i)" and "identity document" in need["reason"]
    challenge, _script = await script_for(api, ident)
    resp = await submit(api, ident, challenge, video=b"not looked at" * 100)
    problem = await resp.json()
    assert resp.status == 422 and problem["code"] == "identity_document_required", problem
    assert "id_document_image" in problem["detail"]
    got = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert got["status"] == "pending" and got["steps"] == []  # no step recorded, no attempt counted
    # The script is unspent: with the document, the same script takes the capture (here one that is no video).
    document = document_of("faces", DOCUMENT_PHOTO)
    again = await submit_with_document(api, ident, challenge, b"not a video" * 100, document)
    assert again.status == 422 and (await again.json())["code"] == "capture_undecodable"

    # A client registered with the document: nothing is missing, the step is open.
    with_card = await opened(api, await registered(api, document, iin="900101300126"))
    state = await (await api.get(f"/v1/identifications/{with_card}")).json()
    assert "liveness" in state["next_methods"] and state["needs"] == [], state


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_face_references_are_computed_once_sealed_and_migrated_lazily(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    # With the face check on, the registration computes both references (the photo's on the way).
    settings = make_settings(dsn, registry={"photo_face_check": True, "photo_quality": {"max_mouth_openness": 0.5}})
    api = await start_api(aiohttp_client, settings, keys)
    registry, db = api.app[CLIENT_REGISTRY], api.app[DB]
    client_id = await registered(api, document_of("faces", DOCUMENT_PHOTO))

    async def stored() -> dict[str, bytes]:
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(client_files.c.kind, face_references.c.sealed, face_references.c.model)
                    .join(client_files, client_files.c.id == face_references.c.file_id)
                    .where(face_references.c.client_id == client_id)
                )
            ).all()
        assert {r.model for r in rows} <= {"dlib-resnet-v1/5pt"}
        return {r.kind: bytes(r.sealed) for r in rows}

    at_registration = await stored()
    assert set(at_registration) == {"photo", "id_document"}
    refs = await registry.face_references(api.lender_id, client_id)
    assert refs.photo is not None and refs.document is not None and len(refs.photo) == 1024
    for kind, sealed in at_registration.items():  # sealed: the encoding itself is nowhere in the row
        assert refs.photo[:64] not in sealed and refs.document[:64] not in sealed, kind

    # A client registered before there were references: the first use computes and keeps them, once.
    async with db.transaction() as tx:
        await tx.run(delete(face_references).where(face_references.c.client_id == client_id))
    migrated = await registry.face_references(api.lender_id, client_id)
    assert migrated == refs  # the same encodings (the quality check encodes the photo as the match does)
    assert set(await stored()) == {"photo", "id_document"}
    # Read from then on, never recomputed: the files themselves could not even be opened now.
    async with db.transaction() as tx:
        await tx.run(update(client_files).where(client_files.c.client_id == client_id).values(sealed=b"\x00" * 64))
    assert await registry.face_references(api.lender_id, client_id) == refs


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_scanned_pdf_of_the_card_is_read_and_a_bad_pdf_is_a_named_422(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    """A scanner's one-page PDF of the card (Pillow's PDF writer around the rendered card) is the client's
    document like a JPEG: its page rasterised, the portrait found, the file kept sealed as it came."""
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    photo = image_field(fixture_path("faces", REGISTRATION_PHOTO).read_bytes())
    refusals = {
        "document_pdf_multiple_pages": card_pdf("faces", DOCUMENT_PHOTO, pages=2),
        "document_pdf_encrypted": encrypted_pdf(),
        "document_pdf_no_image": typed_pdf(),
        "document_pdf_unreadable": card_pdf("faces", DOCUMENT_PHOTO)[:2000],
    }
    for code, pdf in refusals.items():
        resp = await post_client(api, individual(photo=photo, id_document_image=image_field(pdf)))
        problem = await resp.json()
        assert resp.status == 422 and problem["code"] == code, problem
        assert problem["errors"][0]["loc"] == "id_document_image", problem
    # Declared as a PDF but not one: the sniffed type is what counts.
    lying = {"content_type": "application/pdf", "data": image_field(document_of("faces", DOCUMENT_PHOTO))["data"]}
    resp = await post_client(api, individual(photo=photo, id_document_image=lying))
    assert resp.status == 422 and (await resp.json())["code"] == "content_type_mismatch"

    pdf = card_pdf("faces", DOCUMENT_PHOTO)
    client_id = await registered(api, pdf)
    files = (await (await api.get(f"/v1/clients/{client_id}")).json())["files"]
    assert [(f["kind"], f["content_type"]) for f in files] == [
        ("photo", "image/jpeg"),
        ("id_document", "application/pdf"),
    ]
    refs = await api.app[CLIENT_REGISTRY].face_references(api.lender_id, client_id)
    assert refs.document is not None and len(refs.document) == 1024
    # The liveness step matches the live face to the PDF's portrait.
    _challenge, _script, _video, verdict = await passed_capture(api, await opened(api, client_id))
    assert verdict["matched"] == ["registration", "document"], verdict
