"""The shared face photos, decoded once per test session."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from liveness.images import RGBImage, decode_image
from tests.shared import fixture_path


@cache
def _photo(name: str) -> RGBImage:
    return decode_image(fixture_path("faces", name).read_bytes())


def photo(name: str) -> RGBImage:
    """A fresh copy of a shared photo (tests may modify it)."""
    return _photo(name).copy()


def rotate(image: RGBImage, degrees: float) -> RGBImage:
    """Rotate about the centre, counter-clockwise for positive ``degrees`` (OpenCV's convention)."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    return np.asarray(cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE), dtype=np.uint8)
