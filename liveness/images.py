"""Image bytes → RGB arrays, safely.

Every array in this package is ``uint8`` RGB, shape (height, width, 3). Frames read with OpenCV are BGR:
convert them with :func:`from_bgr` first.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from liveness.errors import ImageTooLarge, ImageUndecodable

RGBImage = NDArray[np.uint8]

# 25 MP covers any phone camera and passport scanner; a bomb claiming more is refused before decoding.
DEFAULT_MAX_PIXELS = 25_000_000
DEFAULT_MAX_BYTES = 15 * 1024 * 1024
ACCEPTED_FORMATS = ("JPEG", "PNG")


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES) -> RGBImage:
    """Decode JPEG/PNG bytes to RGB, honouring EXIF orientation (phone photos are often stored sideways).

    The header is read first and the pixel count checked against ``max_pixels`` before any pixel is
    decoded. Raises ImageTooLarge or ImageUndecodable.
    """
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise ImageUndecodable("image is empty")
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb warning would be an exception under -W error; our cap is stricter anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = img.size
            if width * height > max_pixels:
                raise ImageTooLarge(f"image is {width}×{height} pixels; the limit is {max_pixels} pixels")
            if width < 1 or height < 1:
                raise ImageUndecodable("image has no pixels")
            img.load()
            rgb = ImageOps.exif_transpose(img).convert("RGB")
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(f"image exceeds the decoder's pixel limit: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, ImageTooLarge | ImageUndecodable):
            raise
        raise ImageUndecodable(f"not a readable JPEG or PNG image: {exc}") from exc
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def from_bgr(frame: NDArray[np.uint8]) -> RGBImage:
    """An OpenCV (BGR) frame as RGB."""
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ImageUndecodable(f"expected an H×W×3 frame, got shape {frame.shape}")
    return np.ascontiguousarray(frame[:, :, ::-1])


def ensure_rgb(image: NDArray[np.uint8]) -> RGBImage:
    """Validate an in-memory image: uint8, H×W×3 (grey images are expanded)."""
    if image.dtype != np.uint8:
        raise ImageUndecodable(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageUndecodable(f"expected an H×W×3 RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def luminance(image: RGBImage) -> NDArray[np.float32]:
    """ITU-R BT.601 luma in 0..255."""
    rgb = image.astype(np.float32)
    return np.asarray(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2], dtype=np.float32)
