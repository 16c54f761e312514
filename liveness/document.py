"""The portrait on an identity document (R-7.3b(i)): located, checked and encoded once, at registration.

The image is the front of a Kazakh ID card or a passport's data page, photographed or scanned (JPEG or
PNG; a PDF must be rasterised by the caller). The portrait is the largest face on it; the card's small
"ghost" copy of the portrait (a second face under half its width) is expected and ignored. A document
image the match cannot rely on is refused with a named reason the service maps to a 422:

- ``document_no_portrait``: no face on the image;
- ``document_multiple_portraits``: two faces of similar size (two documents, or a person beside it);
- ``document_portrait_too_small``: the portrait's eye distance is under ``min_inter_ocular_px``;
- ``document_blurred``: the portrait's sharpness (variance of the Laplacian of the face, at a fixed
  size) is under ``min_sharpness``.

:func:`document_portrait` returns the encoding to seal with the registration; the liveness step matches
the live frames against it with its own threshold (``MatchSettings.document_threshold``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from liveness.detect import Encoding, FaceBox, detect_faces, encode_face, inter_ocular_px, landmarks5
from liveness.errors import ImageRejected
from liveness.images import RGBImage, decode_image, ensure_rgb


class DocumentRejected(ImageRejected):
    """The document image cannot serve for the face match; ``code`` names why."""

    code = "document_rejected"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class DocumentSettings:
    """max_side: the image is shrunk to this before detection (a 12-Mpx phone photo of a card holds a
    ~200-px portrait at 1600 px); ghost_ratio: a second face narrower than this share of the portrait is
    the card's ghost image; min_inter_ocular_px / min_sharpness: see the module docstring."""

    max_side: int = 1600
    upsample: int = 1
    ghost_ratio: float = 0.6
    min_inter_ocular_px: float = 24.0
    # Rendered cards of 4 people: sharp 32–190, Gaussian blur σ 1.5 → 6–25, σ 3 → ≤ 7.2 (in-sample: re-measure on real scans).
    min_sharpness: float = 10.0
    # One: the threshold was calibrated on un-jittered encodings, and dlib's jitters are random crops (two
    # jittered encodings of one card lay up to 0.16 apart), so a stored reference would depend on the draw.
    jitters: int = 1


@dataclass(frozen=True, eq=False)
class DocumentPortrait:
    encoding: Encoding
    box: FaceBox  # in pixels of the image as given
    inter_ocular_px: float
    sharpness: float
    ghosts: int  # smaller faces ignored (the ghost image)


def sharpness(image: RGBImage, box: FaceBox) -> float:
    """Variance of the Laplacian of the face crop resized to 128 px wide (so it does not depend on size)."""
    h, w = image.shape[:2]
    crop = image[max(0, box.top) : min(h, box.bottom), max(0, box.left) : min(w, box.right)]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
    size = (128, max(1, round(128 * grey.shape[0] / max(grey.shape[1], 1))))
    grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def document_portrait(image: RGBImage, settings: DocumentSettings | None = None) -> DocumentPortrait:
    """Locate, check and encode the portrait. Raises DocumentRejected with the reason's code."""
    settings = settings or DocumentSettings()
    image = ensure_rgb(np.asarray(image))
    side = max(image.shape[:2])
    boxes = detect_faces(image, upsample=settings.upsample, max_side=min(side, settings.max_side))
    if not boxes and settings.upsample < 2:
        boxes = detect_faces(image, upsample=settings.upsample + 1, max_side=min(side, settings.max_side))
    if not boxes:
        raise DocumentRejected("document_no_portrait", "no portrait found on the document image")
    portrait = boxes[0]
    rivals = [b for b in boxes[1:] if b.width >= settings.ghost_ratio * portrait.width]
    if rivals:
        raise DocumentRejected(
            "document_multiple_portraits",
            f"{len(rivals) + 1} faces of similar size on the document image: photograph one document alone",
        )
    points = landmarks5(image, portrait)
    iod = inter_ocular_px(points)
    if iod < settings.min_inter_ocular_px:
        raise DocumentRejected(
            "document_portrait_too_small",
            f"the portrait's eye distance is {iod:.0f} px; at least {settings.min_inter_ocular_px:.0f} px is needed",
        )
    sharp = sharpness(image, portrait)
    if sharp < settings.min_sharpness:
        raise DocumentRejected(
            "document_blurred",
            f"the portrait is blurred (sharpness {sharp:.0f}; at least {settings.min_sharpness:.0f})",
        )
    encoding = encode_face(image, portrait, num_jitters=settings.jitters)
    return DocumentPortrait(encoding, portrait, iod, sharp, ghosts=len(boxes) - 1)


def document_portrait_bytes(data: bytes, settings: DocumentSettings | None = None) -> DocumentPortrait:
    """The same from JPEG/PNG bytes (ImageUndecodable / ImageTooLarge for unusable bytes)."""
    return document_portrait(decode_image(data), settings)
