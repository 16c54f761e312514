"""dlib steps: HOG face detection, 5-point alignment, 128-d ResNet encoding.

All functions are module-level and exchange plain data (numpy arrays, frozen dataclasses), so they can run
in a ``ProcessPoolExecutor`` worker (dlib holds the GIL; threads do not scale).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.images import RGBImage
from liveness.models import blazeface, dlib_models, import_dlib, mesh_available, mesh_lock

Points = NDArray[np.float32]
Encoding = NDArray[np.float64]

# HOG finds faces down to ~80 px per upsample level; larger images are shrunk first because detection
# cost grows with pixel count while a 1024-px side still shows any face worth matching.
DEFAULT_MAX_DETECT_SIDE = 1024


@dataclass(frozen=True)
class FaceBox:
    """A detected face, in pixels of the image given; ``score`` is the HOG SVM margin (higher = surer)."""

    left: int
    top: int
    right: int
    bottom: int
    score: float

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(self.width, 0) * max(self.height, 0)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2.0, (self.top + self.bottom) / 2.0)


def detect_faces(
    image: RGBImage, *, upsample: int = 0, max_side: int = DEFAULT_MAX_DETECT_SIDE, min_score: float = 0.0
) -> list[FaceBox]:
    """Faces found by dlib's HOG detector, largest first.

    ``upsample`` doubles the image that many times before scanning (finds faces half as big each time, at
    ~4× the cost): 0 for live frames, 1–2 for the small photo on an identity document."""
    if upsample < 0 or upsample > 3:
        raise ValueError(f"upsample must be 0..3, got {upsample}")
    height, width = image.shape[:2]
    scale = 1.0
    work = image
    if max(height, width) > max_side:
        scale = max_side / float(max(height, width))
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # Area averaging only for a strong shrink; below 2× bilinear barely aliases and costs ~7× less.
        interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
        work = np.asarray(cv2.resize(image, size, interpolation=interpolation), dtype=np.uint8)
    rects, scores, _ = dlib_models().detector.run(work, upsample, 0.0)
    boxes = []
    for rect, score in zip(rects, scores, strict=True):
        if score < min_score:
            continue
        left = max(0, round(rect.left() / scale))
        top = max(0, round(rect.top() / scale))
        right = min(width, round((rect.right() + 1) / scale))
        bottom = min(height, round((rect.bottom() + 1) / scale))
        if right > left and bottom > top:
            boxes.append(FaceBox(left, top, right, bottom, float(score)))
    boxes.sort(key=lambda b: b.area, reverse=True)
    return boxes


# BlazeFace boxes are ~1.1× a HOG box's width (0.93–1.25 on 8 fixture photos); shrinking them to HOG's size
# keeps every consumer (the mesh crop at twice the box, the 5 points, the size checks) calibrated.
BLAZE_TO_HOG = 0.92
BLAZE_SIDE = 640  # BlazeFace scans a 192-px square: a larger input tells it nothing more


def detect_faces_blaze(image: RGBImage, *, max_side: int = BLAZE_SIDE) -> list[FaceBox]:
    """Faces found by BlazeFace (full range), largest first, as HOG-sized boxes; ``score`` is its confidence
    (0–1, not comparable with HOG's margin). Unlike HOG it still finds a head turned 30–60°. [] without
    MediaPipe."""
    if not mesh_available():
        return []
    height, width = image.shape[:2]
    scale = min(1.0, max_side / float(max(height, width)))
    work = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        work = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    detector = blazeface()
    with mesh_lock:
        result = detector.process(np.ascontiguousarray(work))
    boxes = []
    for d in result.detections or []:
        rel = d.location_data.relative_bounding_box
        cx, cy = (rel.xmin + rel.width / 2.0) * width, (rel.ymin + rel.height / 2.0) * height
        side = max(rel.width * width, rel.height * height) * BLAZE_TO_HOG
        left, top = max(0, round(cx - side / 2.0)), max(0, round(cy - side / 2.0))
        right, bottom = min(width, round(cx + side / 2.0)), min(height, round(cy + side / 2.0))
        if right > left and bottom > top:
            boxes.append(FaceBox(left, top, right, bottom, float(d.score[0]) if d.score else 0.0))
    boxes.sort(key=lambda b: b.area, reverse=True)
    return boxes


def find_faces(image: RGBImage, *, upsample: int = 0, max_side: int = DEFAULT_MAX_DETECT_SIDE) -> list[FaceBox]:
    """HOG's faces, or BlazeFace's where HOG finds none (a turned head): the detector for a subject that may
    not face the camera. Document portraits and face counting stay on HOG alone (its boxes are calibrated)."""
    return detect_faces(image, upsample=upsample, max_side=max_side) or detect_faces_blaze(image)


def _shape(image: RGBImage, box: FaceBox) -> object:
    dlib = import_dlib()
    rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
    return dlib_models().shape_predictor(image, rect)


def landmarks5(image: RGBImage, box: FaceBox) -> Points:
    """dlib's 5 points (x, y): two corners of each eye and the base of the nose."""
    shape = _shape(image, box)
    return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)  # type: ignore[attr-defined]


def eye_centres(points5: Points) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """(image-left eye centre, image-right eye centre) from the 5 points."""
    a = points5[0:2].mean(axis=0)
    b = points5[2:4].mean(axis=0)
    return (a, b) if a[0] <= b[0] else (b, a)


def inter_ocular_px(points5: Points) -> float:
    """Distance between the eye centres, the usual measure of face resolution (ISO/IEC 19794-5)."""
    left, right = eye_centres(points5)
    return float(np.linalg.norm(right - left))


def encode_face(image: RGBImage, box: FaceBox, *, num_jitters: int = 1) -> Encoding:
    """128-d ResNet encoding of the face, aligned by the 5 points. ``num_jitters`` > 1 averages that many
    randomly perturbed crops (slower, slightly more stable, e.g. for the enrolment photo)."""
    if num_jitters < 1:
        raise ValueError(f"num_jitters must be ≥ 1, got {num_jitters}")
    shape = _shape(image, box)
    descriptor = dlib_models().encoder.compute_face_descriptor(image, shape, num_jitters)
    return np.asarray(descriptor, dtype=np.float64)


def face_distance(a: Encoding, b: Encoding) -> float:
    """Euclidean distance between two encodings (dlib's metric: same person below ~0.6 on LFW)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))
