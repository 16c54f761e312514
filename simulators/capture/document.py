"""An identity-card front rendered around a real photo: the document image a registration uploads.

ID-1 proportions (85.6 × 54 mm) at ``width`` px: a tinted guilloche background, the portrait on the left
(printed: muted colour, lifted blacks, the guilloche over it), a small faded "ghost" copy on the right,
and text lines; :func:`card_back` is the back (no portrait: the image a lender may send by mistake).
``photographed`` adds what a phone does: a slight perspective, blur and JPEG. These are test inputs for
``liveness.document``, not a likeness of any real document's security design.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness import augment
from liveness.detect import detect_faces
from liveness.errors import FaceNotFound
from liveness.images import RGBImage


def _portrait_crop(photo: RGBImage) -> RGBImage:
    boxes = detect_faces(photo, upsample=1)
    if not boxes:
        raise FaceNotFound("no face in the photo for the document")
    box = boxes[0]
    h, w = photo.shape[:2]
    cx, cy = box.center
    half = box.width * 0.9
    x0, x1 = max(0, round(cx - half)), min(w, round(cx + half))
    y0, y1 = max(0, round(cy - 1.25 * half)), min(h, round(cy + 1.35 * half))
    return np.ascontiguousarray(photo[y0:y1, x0:x1])


def id_card(
    photo: RGBImage,
    rng: np.random.Generator,
    *,
    width: int = 1012,
    portrait_share: float = 0.3,
    ghost: bool = True,
    photographed: bool = True,
) -> RGBImage:
    """The card front; ``portrait_share`` is the portrait's width over the card's."""
    height = round(width * 54 / 85.6)
    card = _blank(height, width, rng)
    crop = _portrait_crop(photo)
    pw = max(8, round(width * portrait_share))
    ph = round(pw * crop.shape[0] / crop.shape[1])
    face = cv2.resize(crop, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32)
    face = 40.0 + (0.55 * face + 0.45 * face.mean(axis=2, keepdims=True)) * 0.75
    top, left = round(height * 0.22), round(width * 0.04)
    ph = min(ph, height - top - 4)
    region = card[top : top + ph, left : left + pw]
    card[top : top + ph, left : left + pw] = 0.88 * face[:ph] + 0.12 * region
    if ghost:
        gw = max(8, round(pw * 0.35))
        gh = round(gw * crop.shape[0] / crop.shape[1])
        small = cv2.resize(crop, (gw, gh), interpolation=cv2.INTER_AREA).astype(np.float32).mean(axis=2, keepdims=True)
        gy, gx = round(height * 0.55), round(width * 0.8)
        gh = min(gh, height - gy - 2)
        card[gy : gy + gh, gx : gx + gw] = 0.5 * card[gy : gy + gh, gx : gx + gw] + 0.5 * (90.0 + 0.6 * small[:gh])
    ink = (30, 30, 60)
    x = left + pw + round(width * 0.04)
    cv2.putText(
        card, "KAZAKHSTAN  IDENTITY CARD", (x, round(height * 0.13)), cv2.FONT_HERSHEY_SIMPLEX, width / 1400, ink, 2
    )
    for i, line in enumerate(("SURNAME", "GIVEN NAMES", "DATE OF BIRTH", "IIN 000000000000", "NO 000000000")):
        y = round(height * (0.3 + 0.11 * i))
        cv2.putText(card, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, width / 2000, ink, 1)
    out = np.clip(card, 0, 255).astype(np.uint8)
    return _photographed(out, rng) if photographed else out


def card_back(rng: np.random.Generator, *, width: int = 1012, photographed: bool = True) -> RGBImage:
    """The card's back: the guilloche, address lines and the machine-readable zone, and no portrait."""
    height = round(width * 54 / 85.6)
    card = _blank(height, width, rng)
    ink = (30, 30, 60)
    for i, line in enumerate(("PLACE OF BIRTH", "NATIONALITY", "ISSUED BY", "DATE OF ISSUE")):
        y = round(height * (0.15 + 0.1 * i))
        cv2.putText(card, line, (round(width * 0.05), y), cv2.FONT_HERSHEY_SIMPLEX, width / 2000, ink, 1)
    for i, mrz in enumerate(
        ("IDKAZ0000000000<<<<<<<<<<<<<<<", "0000000M0000000KAZ<<<<<<<<<<<0", "SURNAME<<GIVEN<NAMES<<<<<<<<<<")
    ):
        y = round(height * (0.7 + 0.1 * i))
        cv2.putText(card, mrz, (round(width * 0.05), y), cv2.FONT_HERSHEY_PLAIN, width / 600, ink, 2)
    out = np.clip(card, 0, 255).astype(np.uint8)
    return _photographed(out, rng) if photographed else out


def _blank(height: int, width: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """The card's stock: light, with a tinted guilloche print."""
    card = np.full((height, width, 3), 236.0, dtype=np.float32)
    pattern = augment.guilloche(height, width, rng)[:, :, None]
    tint = np.asarray(rng.choice([[70, 120, 170], [90, 150, 110], [160, 110, 150]]), dtype=np.float32)
    return np.asarray(card * (1.0 - 0.3 * pattern) + tint * (0.3 * pattern), dtype=np.float32)


def _photographed(out: RGBImage, rng: np.random.Generator) -> RGBImage:
    height, width = out.shape[:2]
    # A phone photo of the card on a table: the card a little skewed, in a margin, blurred, compressed.
    margin = round(width * 0.08)
    canvas = (width + 2 * margin, height + 2 * margin)
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    jitter = rng.uniform(-0.02, 0.02, (4, 2)) * width
    dst = np.asarray(src + margin + jitter, dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    table = (90.0 + rng.uniform(-20, 20, 3)).tolist()
    warped = cv2.warpPerspective(out, matrix, canvas, borderValue=table)
    warped = cv2.GaussianBlur(warped, (0, 0), 0.7)
    return augment.jpeg(np.asarray(warped, dtype=np.uint8), quality=80)
