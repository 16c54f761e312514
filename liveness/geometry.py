"""Measures derived from landmarks: eye openness, mouth openness, head pose.

Mesh indices are MediaPipe Face Mesh's (the canonical 468-point topology). "Subject's right eye" is the
one on the image's left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

# Eye contours as (corner, upper, upper, corner, lower, lower): the six points of the eye aspect ratio.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)
LEFT_EYE = (362, 385, 387, 263, 373, 380)
# Inner lip midpoints and inner mouth corners.
MOUTH_INNER_TOP, MOUTH_INNER_BOTTOM = 13, 14
MOUTH_INNER_CORNERS = (78, 308)
# Outer eye corners and outer mouth corners: four points that lie almost in one plane parallel to the
# face, which is what the head-pose frame is built from.
EYE_OUTER = (33, 263)
MOUTH_OUTER = (61, 291)
NOSE_TIP = 1


@dataclass(frozen=True)
class HeadPose:
    """Degrees. yaw > 0: nose towards the image's right; pitch > 0: looking up; roll > 0: the eye line
    turns clockwise as seen in the image (a counter-clockwise image rotation by θ lowers roll by θ).

    ``source`` is "mesh" (3-D mesh, all three angles) or "five_point" (dlib points: roll exact, yaw rough,
    pitch unknown)."""

    yaw: float
    pitch: float | None
    roll: float
    source: Literal["mesh", "five_point"]


@dataclass(frozen=True)
class EyeOpenness:
    """Eye aspect ratios (lid gap / eye width); open eyes ≈ 0.25–0.35, closed < ~0.1.
    Blinks are judged against the person's own open-eye baseline, not a fixed cut-off."""

    right: float
    left: float

    @property
    def mean(self) -> float:
        return (self.right + self.left) / 2.0


def _dist(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    return float(np.linalg.norm(a - b))


def eye_aspect_ratio(mesh: NDArray[np.float32], eye: tuple[int, int, int, int, int, int]) -> float:
    p = mesh[list(eye), :2]
    width = _dist(p[0], p[3])
    if width <= 0:
        return 0.0
    return (_dist(p[1], p[5]) + _dist(p[2], p[4])) / (2.0 * width)


def eye_openness(mesh: NDArray[np.float32]) -> EyeOpenness:
    return EyeOpenness(right=eye_aspect_ratio(mesh, RIGHT_EYE), left=eye_aspect_ratio(mesh, LEFT_EYE))


def mouth_openness(mesh: NDArray[np.float32]) -> float:
    """Inner-lip gap over inner mouth width: ~0 closed, > ~0.1 visibly open."""
    gap = _dist(mesh[MOUTH_INNER_TOP, :2], mesh[MOUTH_INNER_BOTTOM, :2])
    width = _dist(mesh[MOUTH_INNER_CORNERS[0], :2], mesh[MOUTH_INNER_CORNERS[1], :2])
    return gap / width if width > 0 else 0.0


def _unit(v: NDArray[np.float64]) -> NDArray[np.float64]:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def head_pose_from_mesh(mesh: NDArray[np.float32]) -> HeadPose:
    """Pose from the mesh's 3-D points (x right, y down, z away from the camera, all in pixels).

    The face frame: x̂ from the image-left outer eye corner to the other; ŷ from the eye midpoint down to
    the mouth midpoint, made orthogonal to x̂; the facing direction n = ŷ × x̂ points out of the face.
    Weak perspective, which the mesh already assumes; accurate to a few degrees up to ~45°."""
    pts = mesh.astype(np.float64)
    x_axis = _unit(pts[EYE_OUTER[1]] - pts[EYE_OUTER[0]])
    eye_mid = (pts[EYE_OUTER[0]] + pts[EYE_OUTER[1]]) / 2.0
    mouth_mid = (pts[MOUTH_OUTER[0]] + pts[MOUTH_OUTER[1]]) / 2.0
    down = mouth_mid - eye_mid
    y_axis = _unit(down - float(np.dot(down, x_axis)) * x_axis)
    facing = _unit(np.cross(y_axis, x_axis))  # towards the camera: z < 0 for a frontal face
    yaw = math.degrees(math.atan2(facing[0], -facing[2]))
    pitch = math.degrees(math.atan2(-facing[1], -facing[2]))
    roll = math.degrees(math.atan2(x_axis[1], x_axis[0]))
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll, source="mesh")


# Half the inter-ocular distance over the nose base's depth in front of the eye line, for an average
# adult head; only used to turn the 5-point nose offset into a rough yaw when the mesh is unavailable.
_NOSE_DEPTH_OVER_IOD = 0.55


def head_pose_from_five_points(points5: NDArray[np.float32]) -> HeadPose:
    """Roll from the eye line (exact); yaw from the nose's sideways offset (rough); pitch unknown."""
    a = points5[0:2].mean(axis=0).astype(np.float64)
    b = points5[2:4].mean(axis=0).astype(np.float64)
    left, right = (a, b) if a[0] <= b[0] else (b, a)
    eye_vec = right - left
    iod = float(np.linalg.norm(eye_vec))
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    if iod <= 0:
        return HeadPose(yaw=0.0, pitch=None, roll=roll, source="five_point")
    along = float(np.dot(points5[4].astype(np.float64) - (left + right) / 2.0, eye_vec / iod))
    ratio = max(-1.0, min(1.0, along / (iod * _NOSE_DEPTH_OVER_IOD)))
    return HeadPose(yaw=math.degrees(math.asin(ratio)), pitch=None, roll=roll, source="five_point")


# Face Mesh points on the rigid part of the face (brow line, nose, cheeks, jaw, eye corners); lips and
# lids are left out because expressions move them. Shared by the pose fit and the planarity test.
RIGID_POINTS = (
    1, 2, 4, 5, 6, 8, 9, 10, 151, 168, 195, 197, 33, 133, 362, 263, 70, 300, 105, 334, 50, 280, 205, 425,
    36, 266, 98, 327, 116, 345, 123, 352, 147, 376, 187, 411, 93, 323, 132, 361, 58, 288, 172, 397, 152,
    148, 377, 176, 400, 109, 338, 67, 297, 234, 454, 127, 356, 64, 294, 129, 358,
)  # fmt: skip
# RIGID_POINTS less the face oval (93, 127, 132, 234, 58, 172, 148, 152, 176, 10, 109, 67 and their mirrors) and
# the outer cheeks (116, 123, 147, 187 and mirrors). Turned ~50°, the Face Mesh puts the far side's oval and cheek
# points on the silhouette (0.3–0.5 of the eye distance off the simulator's projected vertices, against ~0.05–0.15
# for these), and a fit that keeps them follows the silhouette, not the head: from a rest turned 24°, a 26° turn
# away read 8–12° (these points alone: 16–20°; the rest of the shortfall is the mesh's own, its inner points sit
# where a less turned face's would). Used only past SILHOUETTE_DEG of absolute turn, so readings below it stay as
# they were. Set and limit chosen on the calibration people (simulators/capture/heldout_plan.py fold_of), checked
# on the held-out ones (``python -m simulators.capture.pose_truth --poses 0,8,16,24,30``).
INNER_POINTS = (
    1, 2, 4, 5, 6, 8, 9, 151, 168, 195, 197, 33, 133, 362, 263, 70, 300, 105, 334, 50, 280, 205, 425, 36, 266,
    98, 327, 64, 294, 129, 358,
)  # fmt: skip
_INNER = [RIGID_POINTS.index(p) for p in INNER_POINTS]
SILHOUETTE_DEG = 30.0
# The mesh's depth (z) is regressed from one image and comes out deeper than the face's true relief: with
# the model's z scaled by 0.8, solvePnP read the simulator's ground-truth turns of 10–30° (11 source photos
# turned 0–15°, pitch 5°) with a mean error of −0.3° and a standard deviation of 2.6° (unscaled: 17 % low).
MODEL_DEPTH_SCALE = 0.8


@dataclass(frozen=True, eq=False)
class RestModel:
    """The person's own 3-D face (:data:`RIGID_POINTS`, centred, in pixels) at their rest pose in this capture,
    the rotations solvePnP finds for the rest frames themselves with all of them and with :data:`INNER_POINTS`
    (poses are read relative to these), and the rest pose's own yaw (the mesh normal's, degrees)."""

    points: NDArray[np.float64]
    rest_rotation: NDArray[np.float64]
    inner_rest_rotation: NDArray[np.float64]
    rest_yaw: float
    frame_size: tuple[int, int]


def _camera(frame_size: tuple[int, int]) -> NDArray[np.float64]:
    # A phone or laptop camera: ~53° horizontal field of view; the fit is insensitive to the exact focal.
    w, h = frame_size
    return np.array([[float(w), 0.0, w / 2.0], [0.0, float(w), h / 2.0], [0.0, 0.0, 1.0]])


def _rotation(
    model: NDArray[np.float64], image_points: NDArray[np.float64], frame_size: tuple[int, int]
) -> NDArray[np.float64]:
    import cv2

    ok, rvec, _ = cv2.solvePnP(model, image_points, _camera(frame_size), np.zeros(4), flags=cv2.SOLVEPNP_SQPNP)
    if not ok:
        return np.eye(3)
    matrix, _ = cv2.Rodrigues(rvec)
    return np.asarray(matrix, dtype=np.float64)


def _mean_rotation(rotations: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    """The mean of nearby rotations, projected back onto a rotation (SVD)."""
    u, _, vt = np.linalg.svd(np.mean(rotations, axis=0))
    return np.asarray(u @ vt, dtype=np.float64)


def rest_model(meshes: list[NDArray[np.float32]], frame_size: tuple[int, int]) -> RestModel:
    """A 3-D model from the rest-pose frames' meshes (each centred, then averaged)."""
    stack = np.stack([m[list(RIGID_POINTS)].astype(np.float64) for m in meshes])
    stack -= stack.mean(axis=1, keepdims=True)
    points = stack.mean(axis=0)
    points[:, 2] *= MODEL_DEPTH_SCALE
    images = [m[list(RIGID_POINTS), :2].astype(np.float64) for m in meshes]
    return RestModel(
        points=points,
        rest_rotation=_mean_rotation([_rotation(points, i, frame_size) for i in images]),
        inner_rest_rotation=_mean_rotation([_rotation(points[_INNER], i[_INNER], frame_size) for i in images]),
        rest_yaw=float(np.median([head_pose_from_mesh(m).yaw for m in meshes])),
        frame_size=frame_size,
    )


def _angles(rotation: NDArray[np.float64], rest: NDArray[np.float64]) -> tuple[float, float]:
    r = rotation @ rest.T
    yaw = -math.degrees(math.atan2(r[0, 2], r[2, 2]))
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, float(r[1, 2])))))
    return yaw, pitch


def relative_pose(model: RestModel, mesh: NDArray[np.float32]) -> tuple[float, float]:
    """(yaw, pitch) in degrees of ``mesh`` relative to the rest pose, signs as in :class:`HeadPose`
    (yaw > 0: nose towards the image's right; pitch > 0: looking up). A frame whose absolute turn (the rest
    pose's own plus this) passes :data:`SILHOUETTE_DEG` is read again from :data:`INNER_POINTS` alone."""
    image = mesh[list(RIGID_POINTS), :2].astype(np.float64)
    yaw, pitch = _angles(_rotation(model.points, image, model.frame_size), model.rest_rotation)
    if abs(model.rest_yaw + yaw) <= SILHOUETTE_DEG:
        return yaw, pitch
    inner = _rotation(model.points[_INNER], image[_INNER], model.frame_size)
    return _angles(inner, model.inner_rest_rotation)
