"""The identity document a client gives (R-7.3b(i)), for tests over HTTP: an ID-card front rendered by
`simulators.capture.document` around a real photo of the person (the shared fixtures hold no ID-card
images), as a phone's JPEG or a scanner's one-page PDF; and the client registered with it, as res63-2021 now
asks of every client who takes the liveness step."""

from __future__ import annotations

import io
import json
from typing import Any

import cv2
import numpy as np

from liveness.images import decode_image
from simulators.capture.document import id_card
from tests.conftest import Api, b64, individual
from tests.shared import fixture_path

# A third photo of the person the liveness tests capture (alex_lacamoire_1) and register (alex_lacamoire_3).
DOCUMENT_PHOTO = "alex_lacamoire_2.png"


def jpeg(image: np.ndarray) -> bytes:  # type: ignore[type-arg]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def document_of(*photo: str, seed: int = 1) -> bytes:
    """An ID-card front, photographed by a phone, with the portrait cut from the photo named."""
    source = decode_image(fixture_path(*photo).read_bytes())
    return jpeg(id_card(source, np.random.default_rng(seed)))


def image_field(data: bytes) -> dict[str, str]:
    kind = "application/pdf" if data.startswith(b"%PDF-") else "image/png" if data.startswith(b"\x89PNG") else ""
    return {"content_type": kind or "image/jpeg", "data": b64(data)}


async def post_client(api: Api, body: dict[str, Any]) -> Any:
    # Two images make a body over aiohttp's 1 MiB "large raw body" warning: sent as a stream instead.
    headers = api.headers(**{"Content-Type": "application/json"})
    return await api.client.post("/v1/clients", data=io.BytesIO(json.dumps(body).encode()), headers=headers)


async def register_with_document(api: Api, photo: str, document: bytes | None = None, **over: Any) -> str:
    """A client registered with the photo named (in faces/) and its identity document (by default the card of
    `DOCUMENT_PHOTO`); the client's id."""
    card = document if document is not None else document_of("faces", DOCUMENT_PHOTO)
    body = individual(photo=image_field(fixture_path("faces", photo).read_bytes()), id_document_image=image_field(card))
    resp = await post_client(api, body | over)
    assert resp.status == 201, await resp.text()
    client_id: str = (await resp.json())["id"]
    return client_id
