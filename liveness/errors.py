"""The liveness package's own exception tree (it knows nothing of HTTP; the service maps ``code``s).

LivenessError
├── ModelsUnavailable (RuntimeError)   models_unavailable   weights or libraries missing
└── ImageRejected (ValueError)         bad input the caller can act on
    ├── ImageUndecodable               image_undecodable    not a JPEG/PNG we can read
    ├── ImageTooLarge                  image_too_large      over the pixel cap (decompression bomb)
    └── FaceNotFound                   face_not_found       no usable face where one is required
"""

from __future__ import annotations


class LivenessError(Exception):
    """Root of every error the face pipeline raises on purpose; ``code`` is stable for machines."""

    code: str = "liveness_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ModelsUnavailable(LivenessError, RuntimeError):
    """A model file or the library that runs it is missing: a deployment fault, not the user's."""

    code = "models_unavailable"


class ImageRejected(LivenessError, ValueError):
    """The image bytes themselves are unusable."""

    code = "image_rejected"


class ImageUndecodable(ImageRejected):
    code = "image_undecodable"


class ImageTooLarge(ImageRejected):
    code = "image_too_large"


class FaceNotFound(ImageRejected):
    """A reference photo (document or registration) in which no face could be found."""

    code = "face_not_found"
