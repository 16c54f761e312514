"""Decoding: real JPEG/PNG, EXIF orientation, and named refusals for junk and decompression bombs."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from liveness.errors import ImageTooLarge, ImageUndecodable
from liveness.images import decode_image, ensure_rgb, from_bgr
from tests.shared import fixture_path


@pytest.mark.parametrize(("name", "size"), [("obama_5_small.jpg", (240, 320)), ("alex_lacamoire_2.png", (394, 424))])
def test_decodes_real_photos_to_rgb(name: str, size: tuple[int, int]) -> None:
    image = decode_image(fixture_path("faces", name).read_bytes())
    assert image.dtype == np.uint8
    assert image.shape == (*size, 3)


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, format="PNG")
    return buf.getvalue()


def test_pixel_cap_is_checked_before_decoding() -> None:
    # 8000×8000 black pixels compress to a few kB: a classic decompression bomb.
    bomb = _png(8000, 8000, mode="1")
    assert len(bomb) < 100_000
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="8000×8000") as info:
        decode_image(bomb)
    assert time.perf_counter() - started < 0.5
    assert info.value.code == "image_too_large"


def test_pixel_cap_is_a_parameter() -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(_png(100, 100), max_pixels=9_999)
    assert decode_image(_png(100, 100), max_pixels=10_000).shape == (100, 100, 3)


def test_byte_cap() -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(b"\xff" * 101, max_bytes=100)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a" + b"\0" * 40],
    ids=["empty", "text", "truncated_png", "gif_not_accepted"],
)
def test_junk_is_refused_by_name(data: bytes) -> None:
    with pytest.raises(ImageUndecodable) as info:
        decode_image(data)
    assert info.value.code == "image_undecodable"


def test_truncated_jpeg_is_refused() -> None:
    data = fixture_path("faces", "obama_5_small.jpg").read_bytes()
    with pytest.raises(ImageUndecodable):
        decode_image(data[: len(data) // 3])


def test_exif_orientation_is_applied() -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display", as phones write it
    Image.new("RGB", (40, 20), (200, 10, 10)).save(buf, format="JPEG", exif=exif)
    assert decode_image(buf.getvalue()).shape == (40, 20, 3)


def test_in_memory_images_are_validated() -> None:
    grey = np.zeros((4, 5), dtype=np.uint8)
    assert ensure_rgb(grey).shape == (4, 5, 3)
    with pytest.raises(ImageUndecodable):
        ensure_rgb(np.zeros((4, 5, 3), dtype=np.float32))
    bgr = np.zeros((2, 2, 3), dtype=np.uint8)
    bgr[..., 0] = 255
    assert from_bgr(bgr)[0, 0].tolist() == [0, 0, 255]
