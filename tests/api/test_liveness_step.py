"""The liveness step over HTTP (R-7.3b, R-12.3): script, capture, decision, reuse, retention.

Captures are rendered by the capture simulator from a real photo, following the script the service
issued; the registration photo is another photo of the same person.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from authsvc.api.state import DB
from authsvc.api.state import LIVENESS as LIVENESS_KEY
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import liveness as captures
from authsvc.store.schema import liveness_captures
from liveness.images import decode_image
from liveness.script import Script
from simulators.capture.session import SessionSpec, jpeg_frames, mp4_bytes, simulate
from tests.api.documents import register_with_document
from tests.conftest import Api, make_settings, start_api
from tests.shared import fixture_path

LIVE_PHOTO = "alex_lacamoire_1.jpg"
REGISTRATION_PHOTO = "alex_lacamoire_3.jpg"


def render(script: dict[str, Any], kind: str = "live", seed: int = 3) -> Any:
    photo = decode_image(fixture_path("faces", LIVE_PHOTO).read_bytes())
    return simulate(photo, Script.from_dict(script), SessionSpec(kind=kind, fps=10.0, seed=seed))  # type: ignore[arg-type]


def as_mp4(capture: Any) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return mp4_bytes(capture, Path(tmp))


async def liveness_api(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> tuple[Api, str]:
    """A client registered with a photo and the identity document (res63-2021 matches the live face to it,
    R-7.3b(i)), and an identification of it for registration."""
    api = await start_api(aiohttp_client, make_settings(dsn), keys)
    client_id = await register_with_document(api, REGISTRATION_PHOTO)
    ident = await (await api.post("/v1/identifications", {"client_id": client_id, "operation": "registration"})).json()
    return api, ident["id"]


async def script_for(api: Api, ident: str) -> tuple[str, dict[str, Any]]:
    resp = await api.post(f"/v1/identifications/{ident}/liveness/script", None)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    return body["challenge_id"], body["script"]


async def submit(api: Api, ident: str, challenge_id: str, *, video: bytes | None = None, frames: Any = None) -> Any:
    form = aiohttp.FormData()
    form.add_field("challenge_id", challenge_id)
    if video is not None:
        form.add_field("video", video, filename="capture.mp4", content_type="video/mp4")
    for data, _ in frames or []:
        form.add_field("frame", data, filename="f.jpg", content_type="image/jpeg")
    if frames:
        form.add_field("timestamps_ms", str([ts for _, ts in frames]))
    return await api.client.post(f"/v1/identifications/{ident}/liveness", data=form, headers=api.headers())


async def passed_capture(api: Api, ident: str) -> tuple[str, dict[str, Any], bytes, dict[str, Any]]:
    """A genuine capture that passes. Each script is new and rendered anew; a genuine person refused (about
    4 % held out, BENCHMARKS.md) tries again, as the page offers — up to three tries here."""
    verdict: dict[str, Any] = {}
    for _ in range(3):
        challenge, script = await script_for(api, ident)
        video = as_mp4(render(script))
        resp = await submit(api, ident, challenge, video=video)
        assert resp.status == 200, await resp.text()
        verdict = await resp.json()
        if verdict["passed"]:
            return challenge, script, video, verdict
    raise AssertionError(f"three genuine captures refused: {verdict}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_live_capture_passes_and_can_never_be_used_again(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore
) -> None:
    api, ident = await liveness_api(aiohttp_client, dsn, keys)
    challenge, script, video, verdict = await passed_capture(api, ident)
    live = render(script)  # the same session as the video (rendering is deterministic)
    assert script["nonce"] and len([a for a in script["actions"] if a["kind"].startswith("turn")]) >= 1
    names = {c["name"] for c in verdict["checks"]}
    assert {
        "face_match",
        "planarity",
        "blink",
        "colour_flash",
        "script_followed",
        "one_identity",
        "frame_integrity",
    } <= names

    again = await submit(api, ident, challenge, video=video)
    assert again.status == 409 and (await again.json())["code"] == "challenge_used"

    challenge2, _ = await script_for(api, ident)
    replay = await submit(api, ident, challenge2, video=video)
    assert replay.status == 409 and (await replay.json())["code"] == "capture_reused"

    # The same session re-encoded as JPEG frames: not byte-identical, but the same capture.
    challenge3, _ = await script_for(api, ident)
    copy = await submit(api, ident, challenge3, frames=jpeg_frames(live, quality=70))
    body = await copy.json()
    assert copy.status == 200 and body["passed"] is False and "capture_seen_before" in body["reasons"], body

    got = await (await api.get(f"/v1/identifications/{ident}")).json()
    outcomes = [s["outcome"] for s in got["steps"] if s["method"] == "liveness"]
    # (a genuine try refused before the pass, if any, is on record as failed)
    assert outcomes[-2:] == ["passed", "failed"] and set(outcomes[:-2]) <= {"failed"}, outcomes


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_printed_photo_fails(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api, ident = await liveness_api(aiohttp_client, dsn, keys)
    challenge, script = await script_for(api, ident)
    resp = await submit(api, ident, challenge, video=as_mp4(render(script, kind="print_moved")))
    body = await resp.json()
    assert resp.status == 200 and body["passed"] is False and body["reasons"], body


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_bad_uploads_are_named(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api, ident = await liveness_api(aiohttp_client, dsn, keys)
    challenge, _ = await script_for(api, ident)
    resp = await submit(api, ident, challenge, video=b"this is not a video" * 100)
    assert resp.status == 422 and (await resp.json())["code"] == "capture_undecodable"
    json_body = await api.post(f"/v1/identifications/{ident}/liveness", {"challenge_id": challenge})
    assert json_body.status == 415
    challenge, _ = await script_for(api, ident)
    frames = [(b"\xff\xd8\xff" + bytes(50), 0.0), (b"\xff\xd8\xff" + bytes(50), 100.0)]
    resp = await submit(api, ident, challenge, frames=frames)
    assert 400 <= resp.status < 500
    other_ident = (
        await (
            await api.post(
                "/v1/identifications",
                {
                    "client_id": (await (await api.get(f"/v1/identifications/{ident}")).json())["client_id"],
                    "operation": "login",
                },
            )
        ).json()
    )["id"]
    challenge, _ = await script_for(api, ident)
    wrong = await submit(api, other_ident, challenge, video=b"x")
    assert wrong.status == 404 and (await wrong.json())["code"] == "challenge_not_found"


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_media_is_deleted_after_retention(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api, ident = await liveness_api(aiohttp_client, dsn, keys)
    await passed_capture(api, ident)
    method = api.app[LIVENESS_KEY]
    assert await method.best_frame(ident) is not None  # kept for the CDAO step while retained
    async with api.app[DB].engine.connect() as conn:
        made = len((await conn.execute(select(liveness_captures.c.id))).all())  # a refused try kept its media too
    async with api.app[DB].transaction() as conn:
        assert await captures.purge_media(conn, datetime.now(UTC) + timedelta(days=2)) == made
    async with api.app[DB].engine.connect() as conn:
        rows = (await conn.execute(select(liveness_captures))).all()
    assert len(rows) == made and all(r.media_sealed is None and r.best_frame_sealed is None for r in rows)
    assert all(r.data_key is None and r.fingerprint for r in rows)  # the reuse check keeps working
    assert await method.best_frame(ident) is None


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_broken_multipart_headers_are_400(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    api, ident = await liveness_api(aiohttp_client, dsn, keys)
    body = b'--b\r\nContent-Disposition: form-data; name="x\x1a"\r\nBad Header\r\n\r\n{}\r\n--b--\r\n'
    headers = api.headers(**{"Content-Type": "multipart/form-data; boundary=b"})
    resp = await api.client.post(f"/v1/identifications/{ident}/liveness", data=body, headers=headers)
    assert resp.status == 400 and (await resp.json())["code"] in {"malformed_multipart", "unknown_field"}
