"""One call per frame: detect, align, encode, mesh, and the measures the liveness checks need.

:func:`analyze_frame` is module-level and takes and returns picklable data, so the service can submit it
to a ``ProcessPoolExecutor`` (dlib holds the GIL). Per-frame landmarks, pose and eye/mouth openness
feed the head-turn, blink and planarity checks built on top; the encoding feeds matching and the
one-identity-across-frames check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liveness.detect import (
    DEFAULT_MAX_DETECT_SIDE,
    Encoding,
    FaceBox,
    Points,
    detect_faces,
    encode_face,
    inter_ocular_px,
    landmarks5,
)
from liveness.geometry import (
    EyeOpenness,
    HeadPose,
    eye_openness,
    head_pose_from_five_points,
    head_pose_from_mesh,
    mouth_openness,
)
from liveness.images import RGBImage, ensure_rgb
from liveness.mesh import MeshPoints, mesh_landmarks


@dataclass(frozen=True)
class PipelineSettings:
    """How much work to do per frame.

    upsample: HOG detector upsampling (0 live frames; 1–2 for small faces such as a document photo).
    max_detect_side: longer image side detection runs at (bigger images are shrunk for detection only).
    num_jitters: encoder jitters (1 for frames; more for a slightly steadier enrolment encoding).
    encode: compute the 128-d encoding (~65 ms; skip on frames used only for pose/blink).
    use_mesh: run Face Mesh for eyes, mouth and 3-D pose (~5 ms); raises ModelsUnavailable if MediaPipe
        is missing. With False, eyes/mouth are None and pose is 5-point only (roll exact, yaw rough).
    max_faces: how many of the largest faces get the full analysis (all boxes are always reported).
    """

    upsample: int = 0
    max_detect_side: int = DEFAULT_MAX_DETECT_SIDE
    num_jitters: int = 1
    encode: bool = True
    use_mesh: bool = True
    max_faces: int = 1


# eq=False: numpy fields make generated equality ambiguous; compare the fields you care about.
@dataclass(frozen=True, eq=False)
class FaceAnalysis:
    box: FaceBox
    landmarks5: Points
    inter_ocular_px: float
    pose: HeadPose
    # None when the mesh was not run or found no face inside the box.
    mesh: MeshPoints | None = None
    eyes: EyeOpenness | None = None
    mouth_openness: float | None = None
    encoding: Encoding | None = None


@dataclass(frozen=True, eq=False)
class FrameAnalysis:
    width: int
    height: int
    boxes: list[FaceBox] = field(default_factory=list)  # every face found, largest first
    faces: list[FaceAnalysis] = field(default_factory=list)  # the largest ``max_faces`` of them

    @property
    def face_count(self) -> int:
        return len(self.boxes)

    @property
    def primary(self) -> FaceAnalysis | None:
        return self.faces[0] if self.faces else None


def analyze_face(image: RGBImage, box: FaceBox, settings: PipelineSettings) -> FaceAnalysis:
    points = landmarks5(image, box)
    mesh = mesh_landmarks(image, box) if settings.use_mesh else None
    return FaceAnalysis(
        box=box,
        landmarks5=points,
        inter_ocular_px=inter_ocular_px(points),
        pose=head_pose_from_mesh(mesh) if mesh is not None else head_pose_from_five_points(points),
        mesh=mesh,
        eyes=eye_openness(mesh) if mesh is not None else None,
        mouth_openness=mouth_openness(mesh) if mesh is not None else None,
        encoding=encode_face(image, box, num_jitters=settings.num_jitters) if settings.encode else None,
    )


def analyze_frame(image: RGBImage, settings: PipelineSettings | None = None) -> FrameAnalysis:
    """Detect every face in an RGB image and analyse the largest ``settings.max_faces``."""
    settings = settings or PipelineSettings()
    image = ensure_rgb(np.asarray(image))
    boxes = detect_faces(image, upsample=settings.upsample, max_side=settings.max_detect_side)
    faces = [analyze_face(image, box, settings) for box in boxes[: max(settings.max_faces, 0)]]
    return FrameAnalysis(width=image.shape[1], height=image.shape[0], boxes=boxes, faces=faces)
