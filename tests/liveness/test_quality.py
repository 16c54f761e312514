"""Registration photo quality (R-6.1): each defect of a real portrait is reported by its own reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np
import pytest

from liveness.errors import ImageUndecodable
from liveness.images import RGBImage
from liveness.quality import REASONS, QualityReport, QualitySettings, assess_photo, assess_photo_bytes
from tests.liveness.photos import photo, rotate
from tests.shared import fixture_path

# A studio portrait on a white background; its only defect is a toothy smile (mouth open).
PORTRAIT = "alex_lacamoire_1.jpg"
SMILE_ALLOWED = QualitySettings(max_mouth_openness=1.0)


def _failure(report: QualityReport, reason: str) -> tuple[float, float]:
    found = [f for f in report.failures if f.reason == reason]
    assert found, f"{reason} not in {report.reasons}"
    measured, limit = found[0].measured, found[0].limit
    assert measured is not None and limit is not None
    return measured, limit


def test_good_portrait_fails_only_on_its_smile() -> None:
    report = assess_photo(photo(PORTRAIT))
    assert report.reasons == ["mouth_open"]
    measured, limit = _failure(report, "mouth_open")
    assert measured > limit
    assert assess_photo(photo(PORTRAIT), SMILE_ALLOWED).ok


def test_bytes_in_give_the_same_verdict() -> None:
    report = assess_photo_bytes(fixture_path("faces", PORTRAIT).read_bytes(), SMILE_ALLOWED)
    assert report.ok and report.face is not None and report.face.encoding is not None
    with pytest.raises(ImageUndecodable):
        assess_photo_bytes(b"\xff\xd8 definitely not a jpeg")


def test_closed_mouth_passes_the_mouth_check() -> None:
    report = assess_photo(photo("biden_1.jpg"))
    assert "mouth_open" not in report.reasons
    assert report.measurements["mouth_openness"] < QualitySettings().max_mouth_openness


def _dark(img: RGBImage) -> RGBImage:
    return (img * 0.3).astype(np.uint8)


def _bright(img: RGBImage) -> RGBImage:
    return np.clip(img.astype(np.float32) * 2.0, 0, 255).astype(np.uint8)


def _blurred(img: RGBImage) -> RGBImage:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), 3.0), dtype=np.uint8)


def _tiny(img: RGBImage) -> RGBImage:
    return np.asarray(cv2.resize(img, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def _border(img: RGBImage, fill: RGBImage | int) -> RGBImage:
    h, w = img.shape[:2]
    out = img.copy()
    band_y, band_x = int(h * 0.15), int(w * 0.13)
    for region in (np.s_[:band_y, :], np.s_[:, :band_x], np.s_[:, w - band_x :]):
        out[region] = fill if isinstance(fill, int) else fill[region]
    return out


def _dark_background(img: RGBImage) -> RGBImage:
    return _border(img, 45)


def _busy_background(img: RGBImage) -> RGBImage:
    stripes = np.zeros_like(img)
    stripes[:, np.arange(img.shape[1]) % 8 < 5] = 255  # bright bars on black: light yet far from uniform
    return _border(img, stripes)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_dark, "underexposed"),
        (_bright, "overexposed"),
        (_blurred, "blurry"),
        (_tiny, "face_too_small"),
        (_dark_background, "dark_background"),
        (_busy_background, "nonuniform_background"),
    ],
)
def test_a_degraded_portrait_fails_with_the_right_reason(make: Callable[[RGBImage], RGBImage], reason: str) -> None:
    report = assess_photo(make(photo(PORTRAIT)), SMILE_ALLOWED)
    assert reason in report.reasons
    measured, limit = _failure(report, reason)
    assert measured != limit


def test_darkening_only_the_background_is_not_called_underexposure() -> None:
    report = assess_photo(_dark_background(photo(PORTRAIT)), SMILE_ALLOWED)
    assert report.reasons == ["dark_background"]


def test_a_tilted_head_is_not_frontal() -> None:
    report = assess_photo(rotate(photo(PORTRAIT), 30), SMILE_ALLOWED)
    assert "not_frontal" in report.reasons
    roll = report.measurements["roll_deg"]
    assert abs(roll) == pytest.approx(30, abs=5)
    assert any(f.reason == "not_frontal" and f.measured == abs(roll) for f in report.failures)


def test_a_turned_head_is_not_frontal() -> None:
    report = assess_photo(photo("obama_2.jpg"))
    assert abs(report.measurements["yaw_deg"]) > QualitySettings().max_yaw_deg
    assert "not_frontal" in report.reasons


def test_group_photo_has_multiple_faces() -> None:
    report = assess_photo(photo("obama_and_biden.jpg"))
    assert "multiple_faces" in report.reasons
    assert _failure(report, "multiple_faces") == (3, 1)


def test_no_face() -> None:
    report = assess_photo(np.full((600, 480, 3), 235, dtype=np.uint8))
    assert report.reasons == ["no_face"]
    assert report.face is None


def test_limits_are_settings() -> None:
    strict = replace(SMILE_ALLOWED, min_eye_openness=0.5, min_inter_ocular_px=500.0)
    report = assess_photo(photo(PORTRAIT), strict)
    assert sorted(report.reasons) == ["eyes_closed", "face_too_small"]
    assert _failure(report, "eyes_closed")[1] == 0.5


def test_every_reason_is_declared() -> None:
    for image in (_dark(photo(PORTRAIT)), photo("obama_and_biden.jpg")):
        assert set(assess_photo(image).reasons) <= set(REASONS)
