"""The liveness package's own exception tree (it knows nothing of HTTP; the service maps ``code``s).

LivenessError
├── ModelsUnavailable (RuntimeError)   models_unavailable   weights or libraries missing
└── ImageRejected (ValueError)         bad input the caller can act on
    ├── ImageUndecodable               image_undecodable    not a JPEG/PNG we can read
    ├── ImageTooLarge                  image_too_large      over the pixel cap (decompression bomb)
    └── FaceNotFound                   face_not_found       no usable face where one is required
ScriptRejected (ValueError)                                  the liveness script (challenge) cannot be used
├── ScriptInvalid                      script_invalid       malformed or inconsistent script JSON
└── ScriptExpired                      script_expired       the capture came after the script's lifetime
CaptureRejected (ValueError)                                 the liveness capture (video/frames) is unusable
├── CaptureUndecodable                 capture_undecodable  not an MP4/WebM or frame list we can decode
├── CaptureTooLarge                    capture_too_large    bytes, resolution, duration or frame count over a cap
└── CaptureOutOfOrder                  capture_out_of_order frames out of order / non-monotonic timestamps
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


class ScriptRejected(LivenessError, ValueError):
    """The liveness script (the challenge) cannot be used to judge a capture."""

    code = "script_rejected"


class ScriptInvalid(ScriptRejected):
    code = "script_invalid"


class ScriptExpired(ScriptRejected):
    code = "script_expired"


class CaptureRejected(LivenessError, ValueError):
    """The liveness capture itself is unusable (decided before or while decoding, never by a crash)."""

    code = "capture_rejected"


class CaptureUndecodable(CaptureRejected):
    code = "capture_undecodable"


class CaptureTooLarge(CaptureRejected):
    code = "capture_too_large"


class CaptureOutOfOrder(CaptureRejected):
    code = "capture_out_of_order"
