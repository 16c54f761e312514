"""Deterministic image degradations: what a live frame or a scanned identity-document photo suffers.

Used to calibrate the match threshold on more than the clean photos, and available to the capture
simulator. Every function takes an RGB image and a seeded ``numpy.random.Generator`` where randomness
is involved, so results are reproducible.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.images import RGBImage


def downscale(image: RGBImage, longer_side: int = 240) -> RGBImage:
    """A low-resolution capture: the longer side shrunk to ``longer_side`` pixels."""
    h, w = image.shape[:2]
    scale = longer_side / float(max(h, w))
    if scale >= 1.0:
        return image.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def jpeg(image: RGBImage, quality: int = 25) -> RGBImage:
    """Re-encode as JPEG at ``quality`` (blocking and ringing of a cheap upload path)."""
    ok, buf = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(decoded[:, :, ::-1])


def noise(image: RGBImage, rng: np.random.Generator, sigma: float = 10.0) -> RGBImage:
    """Gaussian sensor noise of ``sigma`` grey levels."""
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def guilloche(height: int, width: int, rng: np.random.Generator, spacing: float = 7.0) -> NDArray[np.float32]:
    """A guilloche-like security print: two families of fine interleaved sine curves, as a 0..1 mask."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    xs = np.arange(0, width, 1, dtype=np.float64)
    for family in range(2):
        wavelength = rng.uniform(0.25, 0.45) * width
        amplitude = rng.uniform(0.04, 0.09) * height
        phase_step = rng.uniform(0.15, 0.35)
        n_lines = int(height / spacing) + 4
        for k in range(-2, n_lines):
            phase = k * phase_step + family * math.pi
            ys = k * spacing + amplitude * np.sin(2 * math.pi * xs / wavelength + phase)
            pts = np.stack([xs, ys], axis=1).round().astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [pts], isClosed=False, color=(255,), thickness=1, lineType=cv2.LINE_AA)
    return canvas.astype(np.float32) / 255.0


def document_scan(image: RGBImage, rng: np.random.Generator, photo_width: int = 160) -> RGBImage:
    """The photo as it appears on a scanned or phone-photographed identity card: small, faded,
    partly desaturated, overprinted with a tinted guilloche, slightly blurred and JPEG-compressed."""
    small = downscale(image, longer_side=round(photo_width * 1.3))
    img = small.astype(np.float32)
    grey = img.mean(axis=2, keepdims=True)
    img = 0.45 * img + 0.55 * grey  # card photos are printed with muted colour
    img = 40.0 + img * 0.75  # lifted blacks, reduced contrast of print
    mask = guilloche(img.shape[0], img.shape[1], rng)[:, :, None]
    tint = np.array(rng.choice([[70, 120, 170], [90, 150, 110], [160, 110, 150]]), dtype=np.float32)
    img = img * (1.0 - 0.35 * mask) + tint * (0.35 * mask)
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    return jpeg(np.clip(img, 0, 255).astype(np.uint8), quality=60)
