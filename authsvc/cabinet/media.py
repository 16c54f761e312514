"""Uploaded media: base64 decoding, type sniffing by magic bytes, size and pixel limits (R-6.1, R-6.2).

Photo content (exactly one frontal face, light background) is judged by the liveness package's quality
check through the `PhotoInspector` seam; here only what can be checked without a face model.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Protocol

from PIL import Image

from authsvc import error_codes
from authsvc.cabinet.identifiers import IdentifierError
from authsvc.errors import AuthsvcError

IMAGE_TYPES = {"image/jpeg", "image/png"}
SCAN_TYPES = IMAGE_TYPES | {"application/pdf"}
DOCUMENT_TYPES = SCAN_TYPES  # the identity document's image: a photo, or a scan's one-page PDF (`cabinet.pdf`)


@dataclass(frozen=True)
class MediaLimits:
    max_bytes: int
    max_pixels: int = 25_000_000
    min_side: int = 1


@dataclass(frozen=True)
class Media:
    content_type: str
    data: bytes
    sha256: str
    width: int | None = None
    height: int | None = None


def decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise IdentifierError(error_codes.BAD_BASE64, "not valid base64") from exc


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def check_media(text: str, declared: str, allowed: set[str], limits: MediaLimits) -> Media:
    """Decode and check one upload; raises IdentifierError with a stable code."""
    # Reject before decoding when the base64 alone is already too large.
    if len(text) > (limits.max_bytes * 4) // 3 + 4:
        raise IdentifierError(error_codes.FILE_TOO_LARGE, f"file larger than {limits.max_bytes} bytes")
    return check_bytes(decode_base64(text), declared, allowed, limits)


def check_bytes(data: bytes, declared: str | None, allowed: set[str], limits: MediaLimits) -> Media:
    """Check one file given as bytes (``declared`` None: its type is the sniffed one); raises IdentifierError."""
    if not data:
        raise IdentifierError(error_codes.EMPTY_FILE, "file is empty")
    if len(data) > limits.max_bytes:
        raise IdentifierError(error_codes.FILE_TOO_LARGE, f"file larger than {limits.max_bytes} bytes")
    actual = sniff(data)
    if actual not in allowed:
        raise IdentifierError(error_codes.UNSUPPORTED_FILE_TYPE, f"content must be one of {sorted(allowed)}")
    if declared is not None and actual != declared:
        raise IdentifierError(error_codes.CONTENT_TYPE_MISMATCH, f"content is {actual}, declared {declared}")
    width = height = None
    if actual in IMAGE_TYPES:
        width, height = _image_size(data, limits)
    return Media(actual, data, hashlib.sha256(data).hexdigest(), width, height)


def _image_size(data: bytes, limits: MediaLimits) -> tuple[int, int]:
    # Reads only the header: dimensions are checked before any pixel is decoded (decompression bombs).
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                img.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IdentifierError(error_codes.IMAGE_TOO_LARGE, "image has too many pixels") from exc
    except AuthsvcError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise IdentifierError(error_codes.CORRUPT_IMAGE, "image cannot be read") from exc
    if width * height > limits.max_pixels:
        raise IdentifierError(error_codes.IMAGE_TOO_LARGE, f"image larger than {limits.max_pixels} pixels")
    if min(width, height) < limits.min_side:
        raise IdentifierError(error_codes.IMAGE_TOO_SMALL, f"image sides must be at least {limits.min_side} pixels")
    return width, height


@dataclass(frozen=True)
class Inspection:
    """``reasons`` the photo is unacceptable (empty when it passes); ``encoding``: its face's packed encoding
    when the inspector computed one on the way (kept as the client's face reference, `cabinet.faces`)."""

    reasons: list[str]
    encoding: bytes | None = None


class PhotoInspector(Protocol):
    """Judges a registration photo's content (R-6.1); the liveness package provides the real one."""

    async def inspect(self, photo: Media) -> Inspection:
        """The named reasons the photo is unacceptable, and its face's encoding if computed."""


class FormatOnlyInspector:
    """Used until a face-quality inspector is configured: the format checks above are all it does (the face
    reference is then computed on the client's first liveness step)."""

    async def inspect(self, photo: Media) -> Inspection:
        return Inspection([])
