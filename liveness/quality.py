"""Registration photo quality (R-6.1: a light-coloured frontal photo, neutral face, mouth closed).

:func:`assess_photo` returns every failed check, each with a stable reason, the measured value and the
limit, so a client can tell the user exactly what to fix. Defaults follow the spirit of ISO/IEC 19794-5
(token frontal image) and were checked on the shared press photos (see ``QualitySettings``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.detect import FaceBox
from liveness.images import DEFAULT_MAX_PIXELS, RGBImage, decode_image, ensure_rgb, luminance
from liveness.pipeline import FaceAnalysis, FrameAnalysis, PipelineSettings, analyze_frame

REASONS = (
    "no_face",
    "multiple_faces",
    "face_too_small",
    "not_frontal",
    "mouth_open",
    "eyes_closed",
    "landmarks_unavailable",
    "dark_background",
    "nonuniform_background",
    "blurry",
    "underexposed",
    "overexposed",
)


@dataclass(frozen=True)
class QualitySettings:
    """Limits for a registration photo; every one is a setting.

    Values measured on the shared fixtures (frontal press photos) with the defaults below:
    yaw/pitch/roll within ±3° on studio portraits; inner-lip gap ratio 0.002–0.014 with the mouth closed,
    0.15–0.45 in toothy smiles or speech; eye aspect ratio 0.20–0.37 with eyes open.
    """

    max_yaw_deg: float = 12.0
    max_pitch_deg: float = 12.0
    max_roll_deg: float = 8.0
    # Inner-lip gap / inner mouth width; requires the mouth closed.
    max_mouth_openness: float = 0.08
    # Mean eye aspect ratio (mesh); open eyes measured ≥ 0.20, shut lids fall below ~0.1.
    min_eye_openness: float = 0.12
    # ISO/IEC 19794-5 asks ≥ 90 px between eye centres for a token frontal image.
    min_inter_ocular_px: float = 90.0
    # Background: mean luma (0..255) of the border above and beside the head, and its spread.
    min_background_luma: float = 140.0
    max_background_std: float = 40.0
    # Laplacian variance on the face scaled to 256 px wide and a fixed contrast: sharp fixtures measured
    # 136–1113; a Gaussian blur of σ = 1 px on a face 106 px between the eyes drops it to 41.
    min_sharpness: float = 60.0
    # Mean luma on the face, and the share of face pixels clipped at either end.
    min_face_luma: float = 60.0
    max_face_luma: float = 210.0
    max_clipped_fraction: float = 0.15
    # Detection: upsample once so a small face is reported as too small rather than as missing.
    upsample: int = 1
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class QualityFailure:
    reason: str
    measured: float | None
    limit: float | None
    detail: str


@dataclass(frozen=True)
class QualityReport:
    failures: list[QualityFailure]
    measurements: dict[str, float] = field(default_factory=dict)
    face: FaceAnalysis | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[str]:
        return [f.reason for f in self.failures]


def assess_photo_bytes(data: bytes, settings: QualitySettings | None = None) -> QualityReport:
    """Decode JPEG/PNG bytes (pixel cap checked before decoding) and assess them.

    Raises ImageTooLarge / ImageUndecodable for unusable bytes."""
    settings = settings or QualitySettings()
    return assess_photo(decode_image(data, max_pixels=settings.max_pixels), settings)


def assess_photo(image: RGBImage, settings: QualitySettings | None = None) -> QualityReport:
    settings = settings or QualitySettings()
    image = ensure_rgb(image)
    analysis = analyze_frame(image, PipelineSettings(upsample=settings.upsample, encode=True))
    return _judge(image, analysis, settings)


def _judge(image: RGBImage, analysis: FrameAnalysis, s: QualitySettings) -> QualityReport:
    failures: list[QualityFailure] = []
    m: dict[str, float] = {"face_count": float(analysis.face_count)}
    if analysis.face_count == 0 or analysis.primary is None:
        return QualityReport([QualityFailure("no_face", 0, 1, "no face was found in the photo")], m)
    if analysis.face_count > 1:
        failures.append(
            QualityFailure(
                "multiple_faces", analysis.face_count, 1, f"{analysis.face_count} faces; exactly one allowed"
            )
        )
    face = analysis.primary

    def check_max(reason: str, value: float, limit: float, what: str) -> None:
        if value > limit:
            failures.append(QualityFailure(reason, value, limit, f"{what} {value:.3g} exceeds {limit:.3g}"))

    def check_min(reason: str, value: float, limit: float, what: str) -> None:
        if value < limit:
            failures.append(QualityFailure(reason, value, limit, f"{what} {value:.3g} is below {limit:.3g}"))

    m["inter_ocular_px"] = face.inter_ocular_px
    check_min("face_too_small", face.inter_ocular_px, s.min_inter_ocular_px, "eye distance (px)")

    pose = face.pose
    m["yaw_deg"], m["roll_deg"] = pose.yaw, pose.roll
    check_max("not_frontal", abs(pose.yaw), s.max_yaw_deg, "head turn (yaw, °)")
    check_max("not_frontal", abs(pose.roll), s.max_roll_deg, "head tilt (roll, °)")
    if pose.pitch is not None:
        m["pitch_deg"] = pose.pitch
        check_max("not_frontal", abs(pose.pitch), s.max_pitch_deg, "head nod (pitch, °)")

    if face.mouth_openness is None or face.eyes is None:
        failures.append(QualityFailure("landmarks_unavailable", None, None, "eyes and mouth could not be located"))
    else:
        m["mouth_openness"], m["eye_openness"] = face.mouth_openness, face.eyes.mean
        check_max("mouth_open", face.mouth_openness, s.max_mouth_openness, "mouth opening")
        check_min("eyes_closed", face.eyes.mean, s.min_eye_openness, "eye opening")

    luma = luminance(image)
    bg = background_region(luma, face.box)
    if bg.size:
        m["background_luma"], m["background_std"] = float(bg.mean()), float(bg.std())
        check_min("dark_background", m["background_luma"], s.min_background_luma, "background brightness")
        check_max("nonuniform_background", m["background_std"], s.max_background_std, "background spread")

    face_luma = _crop(luma, face.box)
    m["sharpness"] = sharpness(face_luma)
    check_min("blurry", m["sharpness"], s.min_sharpness, "sharpness")
    m["face_luma"] = float(face_luma.mean())
    m["dark_fraction"] = float((face_luma <= 5).mean())
    m["bright_fraction"] = float((face_luma >= 250).mean())
    check_min("underexposed", m["face_luma"], s.min_face_luma, "face brightness")
    check_max("underexposed", m["dark_fraction"], s.max_clipped_fraction, "share of black face pixels")
    check_max("overexposed", m["face_luma"], s.max_face_luma, "face brightness")
    check_max("overexposed", m["bright_fraction"], s.max_clipped_fraction, "share of white face pixels")
    return QualityReport(failures, m, face)


def _crop(plane: NDArray[np.float32], box: FaceBox) -> NDArray[np.float32]:
    return plane[max(box.top, 0) : box.bottom, max(box.left, 0) : box.right]


def sharpness(face_luma: NDArray[np.float32]) -> float:
    """Variance of the Laplacian of the face scaled to 256 px wide and to a luma spread of 50, so the
    figure depends neither on the photo's resolution nor on its exposure (a dark photo is not blurry)."""
    h, w = face_luma.shape[:2]
    if h < 2 or w < 2:
        return 0.0
    scaled = cv2.resize(face_luma, (256, max(2, round(h * 256 / w))), interpolation=cv2.INTER_AREA)
    spread = float(scaled.std())
    if spread < 1.0:  # a flat patch has no detail at all
        return 0.0
    normalised = (scaled - float(scaled.mean())) * np.float32(50.0 / spread)
    return float(cv2.Laplacian(normalised, cv2.CV_32F).var())


def background_region(luma: NDArray[np.float32], box: FaceBox) -> NDArray[np.float32]:
    """Pixels of the border band (top 12 %, left and right 12 % down to the chin), minus a generous head
    zone around the face box (hair and ears): what the photo shows behind the person."""
    h, w = luma.shape[:2]
    band_y, band_x = max(1, round(h * 0.12)), max(1, round(w * 0.12))
    mask = np.zeros((h, w), dtype=bool)
    chin = min(h, box.bottom)
    mask[:band_y, :] = True
    mask[:chin, :band_x] = True
    mask[:chin, w - band_x :] = True
    head_l = max(0, round(box.left - 0.35 * box.width))
    head_r = min(w, round(box.right + 0.35 * box.width))
    head_t = max(0, round(box.top - 0.7 * box.height))
    mask[head_t:, head_l:head_r] = False
    return np.asarray(luma[mask], dtype=np.float32)
