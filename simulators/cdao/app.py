"""CDAO (Identification Data Exchange Centre) biometric identification simulator (R-7.2, R-NB.1).

Contract (JSON; errors ``{"error": {"code", "message"}}``; optional ``Authorization: Bearer``)::

    POST /v1/biometric/verify {"iin": "900101300126", "image_base64": "<JPEG or PNG>",
                               "request_id": "..." (optional, echoed)}
      -> 200 {"match": bool, "score": 0..1, "threshold": 0..1, "method": "face_encoding" | "exact_hash",
              "request_id"}
      400 invalid_iin, bad_base64, missing_field          404 person_not_found, no_photo_on_file
      413 image_too_large (over max_image_bytes, 5 MiB by default)            422 poor_quality (+ "reason": undecodable |
                                                              no_face | several_faces | face_too_small)
      503 service_unavailable (through the fault admin, as the real service is at times)

The state photos are the population's photo files in ``faces_dir`` (shared/fixtures/faces). How the
photos are compared is chosen by ``matcher`` (:mod:`simulators.cdao.matchers`): the real face
pipeline of ``liveness`` when it imports, else exact image hashes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiohttp import web

from simulators.cdao.matchers import Matcher, PoorQuality, choose_matcher
from simulators.common import JsonError, make_app, read_json, require_str
from simulators.population import Population, build_population, is_valid_iin
from simulators.roster import add_population_routes

MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024


@dataclass
class ClientRegistry:
    population: Population
    faces_dir: Path
    matcher: Matcher
    # One worker: dlib holds the GIL and its models are not shared across threads safely.
    max_image_bytes: int = MAX_IMAGE_BYTES
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))


CLIENT_REGISTRY: Final = web.AppKey("registry", ClientRegistry)


def decode_probe(body: dict[str, object], limit: int) -> bytes:
    text = body.get("image_base64")
    if not isinstance(text, str) or not text:
        raise JsonError(400, "missing_field", "'image_base64' must be a non-empty string")
    too_large = JsonError(413, "image_too_large", f"the image is limited to {limit} bytes")
    if len(text) > limit * 4 // 3 + 4:
        raise too_large
    try:
        image = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise JsonError(400, "bad_base64", "'image_base64' is not valid base64") from exc
    if len(image) > limit:
        raise too_large
    return image


async def verify(request: web.Request) -> web.Response:
    registry = request.app[CLIENT_REGISTRY]
    body = await read_json(request)
    iin = require_str(body, "iin")
    if not is_valid_iin(iin):
        raise JsonError(400, "invalid_iin", "'iin' is not a valid IIN")
    probe = decode_probe(body, registry.max_image_bytes)
    person = registry.population.by_iin.get(iin)
    if person is None:
        raise JsonError(404, "person_not_found", "no person with this IIN in the state register")
    if person.photo is None:
        raise JsonError(404, "no_photo_on_file", "the state register holds no photo for this person")
    reference = registry.faces_dir / person.photo
    loop = asyncio.get_running_loop()
    try:
        outcome = await loop.run_in_executor(registry.executor, registry.matcher.compare, probe, reference)
    except PoorQuality as exc:
        return web.json_response(
            {"error": {"code": "poor_quality", "message": str(exc), "reason": exc.reason}}, status=422
        )
    return web.json_response(
        {
            "match": outcome.match,
            "score": outcome.score,
            "threshold": outcome.threshold,
            "method": registry.matcher.method,
            "request_id": body.get("request_id") if isinstance(body.get("request_id"), str) else None,
        }
    )


async def _executor(app: web.Application) -> AsyncIterator[None]:
    yield
    app[CLIENT_REGISTRY].executor.shutdown(wait=True, cancel_futures=True)


def create_app(
    *,
    faces_dir: Path | str,
    matcher: str = "auto",
    max_distance: float | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
    api_key: str | None = None,
    population: Population | None = None,
) -> web.Application:
    """``matcher``: ``auto`` (face pipeline if importable, else hashes), ``face`` or ``hash``;
    ``max_distance``: face distance still judged a match (None: liveness.match's calibrated default)."""
    folder = Path(faces_dir)
    population = population or build_population()
    missing = [p.photo for p in population.people if p.photo and not (folder / p.photo).is_file()]
    if missing:
        raise FileNotFoundError(f"state photos missing from {folder}: {', '.join(missing)}")
    # Base64 of a 5 MiB image plus the JSON around it.
    app = make_app(api_key, client_max_size=max_image_bytes * 2)
    app[CLIENT_REGISTRY] = ClientRegistry(
        population, folder, choose_matcher(matcher, folder, max_distance), max_image_bytes=max_image_bytes
    )
    app.cleanup_ctx.append(_executor)
    app.router.add_post("/v1/biometric/verify", verify)
    add_population_routes(app, population)
    return app
