"""CDAO biometric identification (R-7.2): the live image's best frame and the client's IIN go to the
state photo register, which answers match or not with a score.

Person-side refusals (no person, no photo on file, poor quality) are 422s the client can act on and are
recorded as failed steps; a CDAO that is down, slow or garbled is a 503 and records nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from authsvc import error_codes
from authsvc.errors import ValidationFailed
from authsvc.methods.factors import Factors
from authsvc.parties.cdao import BiometricResult, CdaoNoPhotoOnFile, CdaoPersonNotFound, CdaoPoorQuality

PERSON_SIDE = (CdaoPersonNotFound, CdaoNoPhotoOnFile, CdaoPoorQuality)


@dataclass(frozen=True)
class FaceVerdict:
    result: BiometricResult
    image_sha256: str

    @property
    def passed(self) -> bool:
        return self.result.match

    def details(self) -> dict[str, object]:
        return {
            "match": self.result.match,
            "score": round(self.result.score, 4),
            "threshold": self.result.threshold,
            "method": self.result.method,
        }


async def identify_face(factors: Factors, *, iin: str, image: bytes, request_id: str) -> FaceVerdict:
    """Ask the CDAO; raises the clients' PERSON_SIDE refusals, PayloadTooLarge or UpstreamUnavailable."""
    if not image:
        raise ValidationFailed("the image is empty", code=error_codes.IMAGE_MISSING)
    result = await factors.cdao.verify(iin, image, request_id=request_id)
    return FaceVerdict(result, hashlib.sha256(image).hexdigest())


def refusal_details(exc: ValidationFailed) -> dict[str, object]:
    details: dict[str, object] = {"match": False, "refusal": exc.code}
    if isinstance(exc, CdaoPoorQuality):
        details["reason"] = exc.reason
    return details
