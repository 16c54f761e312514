"""CDAO biometric identification (R-7.2, R-NB.1, R-NB.2): does this face belong to this IIN?

Contract: ``POST /v1/biometric/verify`` {iin, image_base64, request_id} → {match, score, threshold,
method, request_id}; 404 person_not_found / no_photo_on_file, 413 image_too_large, 422 poor_quality
(simulators/cdao/app.py speaks it). Comparing changes nothing at the CDAO, so it is retried.

The person-side refusals are :class:`~authsvc.errors.ValidationFailed` subclasses (422, the client
can act: take another photo, go to a branch); a broken CDAO is UpstreamUnavailable (503).
"""

from __future__ import annotations

import base64

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from authsvc import error_codes
from authsvc.errors import PayloadTooLarge, ValidationFailed
from authsvc.parties.jsonapi import Endpoint, JsonApi


class BiometricResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    match: bool
    score: float = Field(ge=0.0, le=1.0)
    threshold: float = Field(ge=0.0, le=1.0)
    method: str
    request_id: str | None = None


class CdaoPersonNotFound(ValidationFailed):
    code = error_codes.CDAO_PERSON_NOT_FOUND


class CdaoNoPhotoOnFile(ValidationFailed):
    code = error_codes.CDAO_NO_PHOTO_ON_FILE


class CdaoPoorQuality(ValidationFailed):
    """The CDAO could not compare the photo; ``reason`` says why (no_face, several_faces, ...)."""

    code = error_codes.CDAO_POOR_QUALITY

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, reason=reason)
        self.reason = reason


class CdaoClient:
    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint) -> None:
        self._api = JsonApi(session, endpoint)

    async def verify(self, iin: str, image: bytes, *, request_id: str | None = None) -> BiometricResult:
        """Compare ``image`` (JPEG/PNG bytes) with the state photo of ``iin``."""
        body = {"iin": iin, "image_base64": base64.b64encode(image).decode("ascii")}
        if request_id is not None:
            body["request_id"] = request_id
        answer = await self._api.call("POST", "/v1/biometric/verify", body, idempotent=True)
        if answer.status == 200:
            return self._api.parse(answer, BiometricResult)
        code = answer.error_code
        if answer.status == 404 and code == "person_not_found":
            raise CdaoPersonNotFound("the CDAO has no person with this IIN")
        if answer.status == 404 and code == "no_photo_on_file":
            raise CdaoNoPhotoOnFile("the CDAO holds no photo for this person; identify another way")
        if answer.status == 413:
            raise PayloadTooLarge("the photo is too large for the CDAO", code=error_codes.CDAO_PHOTO_TOO_LARGE)
        if answer.status == 422 and code == "poor_quality":
            error = answer.body.get("error")
            reason = error.get("reason") if isinstance(error, dict) else None
            raise CdaoPoorQuality(
                f"the CDAO could not use the photo: {answer.error_message}",
                reason=reason if isinstance(reason, str) else "unknown",
            )
        raise self._api.rejected(answer)
