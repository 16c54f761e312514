"""Per-frame observations of a capture, kept cheap: what the liveness checks read.

Every sampled frame gets HOG detection (at a scale chosen from the face size, so a 640×480 frame costs
what a 320×240 one does), dlib's 5 points and the Face Mesh (pose, eyes, the planarity landmarks), the
face's and the background's mean colour (for the colour flash) and a small grey face crop (to spot a
cut between frames). The 128-d encoding, the expensive step (~65 ms), is computed only for the few
frames :func:`encode_frames` is asked for (FACE.md: a whole session in well under a second of CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.capture import Capture
from liveness.detect import Encoding, FaceBox, detect_faces, encode_face, find_faces
from liveness.geometry import eye_openness, head_pose_from_mesh, relative_pose, rest_model
from liveness.mesh import MeshPoints, mesh_landmarks

# The face oval of the Face Mesh, in order round the face.
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
    176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
# HOG finds faces from ~80 px; aim the detection scale at faces ~110 px wide.
DETECT_FACE_PX = 110.0
CROP_PX = 24
BACKGROUND_COLUMNS = 64
WIDE_SEARCH_EVERY = 4
IRIS_CENTRES = (468, 473)  # refined iris points of the Face Mesh: the eye centres


@dataclass(frozen=True, eq=False)
class Observation:
    index: int  # into capture.frames
    t_ms: float
    face_count: int
    frame_width: int = 0
    box: FaceBox | None = None
    mesh: MeshPoints | None = None
    yaw: float | None = None
    pitch: float | None = None
    eye_openness: float | None = None
    inter_ocular_px: float | None = None
    face_rgb: NDArray[np.float64] | None = None  # mean RGB inside the face oval
    columns_rgb: NDArray[np.float64] | None = None  # mean RGB of each column of a 64-wide copy
    crop: NDArray[np.float32] | None = None  # grey face crop, zero-mean unit-norm
    detected: bool = True  # False: the box was carried over from the previous frame
    frame_height: int = 0

    @property
    def has_face(self) -> bool:
        return self.box is not None and self.mesh is not None


def _detect(image: NDArray[np.uint8], face_px: float | None) -> list[FaceBox]:
    """Detect at a scale where the expected face is ~110 px; with no expectation, try cheap then thorough."""
    side = max(image.shape[:2])
    if face_px is None:
        boxes = detect_faces(image, upsample=0, max_side=min(side, 480))
        return boxes or find_faces(image, upsample=1, max_side=min(side, 640))
    scale = min(1.0, DETECT_FACE_PX / max(face_px, 1.0))
    upsample = 1 if face_px < 95.0 else 0
    # BlazeFace where HOG misses: a person whose rest pose is turned 25–30° is lost by HOG on every turn away.
    return find_faces(image, upsample=upsample, max_side=max(64, round(side * scale)))


def _colours(image: NDArray[np.uint8], mesh: MeshPoints) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    h, w = image.shape[:2]
    oval = mesh[list(FACE_OVAL), :2].astype(np.float64)
    centre = oval.mean(axis=0)
    inner = centre + (oval - centre) * 0.8  # stay off the silhouette, where the background shows through
    x0, y0 = np.floor(inner.min(axis=0)).astype(int)
    x1, y1 = np.ceil(inner.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    face = np.zeros(3)
    if x1 > x0 and y1 > y0:
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillConvexPoly(mask, np.round(inner - (x0, y0)).astype(np.int32), (1,))
        if mask.any():  # cv2.mean under a mask: the mean boolean indexing gives, without the copy
            face = np.asarray(cv2.mean(np.ascontiguousarray(image[y0:y1, x0:x1]), mask=mask)[:3], dtype=np.float64)
    # Background: per-column means of a small copy; the flash check keeps only the columns no face
    # position of the whole capture comes near, so the region is the same in every frame.
    step = max(1, min(h // 96, w // (2 * BACKGROUND_COLUMNS)))  # decimate first: area-averaging 640×480 costs ~2 ms
    small = cv2.resize(
        np.ascontiguousarray(image[::step, ::step]), (BACKGROUND_COLUMNS, 48), interpolation=cv2.INTER_AREA
    )
    return face, np.asarray(small.mean(axis=0), dtype=np.float64)


def _crop(image: NDArray[np.uint8], box: FaceBox) -> NDArray[np.float32]:
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, box.left), max(0, box.top), min(w, box.right), min(h, box.bottom)
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    patch = cv2.resize(grey, (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA).astype(np.float32)
    patch -= patch.mean()
    norm = float(np.linalg.norm(patch))
    return np.asarray(patch / norm if norm > 0 else patch, dtype=np.float32)


def box_from_mesh(mesh: MeshPoints, width: int, height: int) -> FaceBox:
    """A HOG-like box for the face the mesh found: square, 0.93 × the face oval's height, centred on the
    oval (measured on 357 HOG detections of rendered sessions: width/oval height 0.93 ± 0.07). The oval's
    height does not shrink as the head turns, so the box keeps its size through a 30° turn, where the
    frontal HOG detector loses the face."""
    oval = mesh[list(FACE_OVAL), :2]
    x0, y0 = oval.min(axis=0)
    x1, y1 = oval.max(axis=0)
    side = 0.93 * float(y1 - y0)
    cx, cy = float(x0 + x1) / 2.0, float(y0 + y1) / 2.0
    left, top = max(0, round(cx - side / 2.0)), max(0, round(cy - side / 2.0))
    right, bottom = min(width, round(cx + side / 2.0)), min(height, round(cy + side / 2.0))
    if right <= left or bottom <= top:
        return FaceBox(0, 0, width, height, 0.0)
    return FaceBox(left, top, right, bottom, 0.0)


def observe_frame(
    image: NDArray[np.uint8],
    index: int,
    t_ms: float,
    face_px: float | None,
    tracked: Observation | None = None,
    *,
    fallback: Observation | None = None,
) -> Observation:
    """Analyse one frame. With ``tracked`` (the previous frame's observation) the detector is not run:
    the face is looked for in a box derived from that frame's mesh (the mesh crop is twice the box, so a
    moving head stays inside). With ``fallback``, a frame where the detector finds no face is searched the
    same way around ``fallback``'s mesh: the frontal HOG detector loses a head turned 20–30°, the mesh does not."""
    h, w = image.shape[:2]
    if tracked is not None and tracked.mesh is not None:
        boxes, count, detected = [box_from_mesh(tracked.mesh, w, h)], tracked.face_count, False
    else:
        boxes = _detect(image, face_px)
        count, detected = len(boxes), True
        if not boxes and fallback is not None and fallback.mesh is not None:
            boxes, count, detected = [box_from_mesh(fallback.mesh, w, h)], 1, False
    if not boxes:
        return Observation(index, t_ms, 0, w, frame_height=h)
    box = boxes[0]
    # The mesh alone gives pose, eyes and the eye distance (iris centres): dlib's 5 points are not needed
    # per frame, only where a frame is encoded (~2 ms a frame saved).
    mesh = mesh_landmarks(image, box)
    if mesh is None:
        if not detected:  # the search around the last mesh found nothing: no face seen in this frame
            return Observation(index, t_ms, 0, w, frame_height=h)
        return Observation(index, t_ms, count, w, box=box, frame_height=h)
    # The box follows the face the mesh found, for the crop, the cut test and any encoding, on detected
    # frames too: a HOG box sits ~0.2 of its width off the mesh's, so alternating the two looked like a cut
    # between frames of one face (a 24 px crop correlation of 0.01) and cost two needless encodings.
    box = box_from_mesh(mesh, w, h)
    pose = head_pose_from_mesh(mesh)
    eyes = eye_openness(mesh)
    face_rgb, columns_rgb = _colours(image, mesh)
    return Observation(
        index=index,
        t_ms=t_ms,
        face_count=count,
        frame_width=w,
        box=box,
        mesh=mesh,
        yaw=pose.yaw,
        pitch=pose.pitch,
        eye_openness=eyes.mean,
        inter_ocular_px=float(np.linalg.norm(mesh[IRIS_CENTRES[0], :2] - mesh[IRIS_CENTRES[1], :2])),
        face_rgb=face_rgb,
        columns_rgb=columns_rgb,
        crop=_crop(image, box),
        detected=detected,
        frame_height=h,
    )


def observe(
    capture: Capture, until_ms: float | None = None, detect_every: int = 6, rest_until_ms: float | None = None
) -> list[Observation]:
    """One observation per sampled frame up to ``until_ms``, in time order. The detector runs on every
    ``detect_every``-th frame (it counts the faces in view: at 15 fps, 2.5 times a second; each run costs
    ~19 ms at 640×480, the largest share of a decision after the mesh) and whenever the tracked face is lost; the
    frames between follow the previous frame's mesh. When the detector misses a face the mesh still
    follows (a turned head), the mesh's observation stands.

    With ``rest_until_ms`` (the script's lead-in), yaw and pitch are re-read relative to the person's own
    rest pose in the frames before it (:func:`rest_relative`)."""
    out: list[Observation] = []
    face_px: float | None = None
    last_wide = -WIDE_SEARCH_EVERY
    for i, (frame, t_ms) in enumerate(zip(capture.frames, capture.timestamps_ms, strict=True)):
        if until_ms is not None and t_ms > until_ms:
            break
        previous = out[-1] if out else None
        has_previous = previous is not None and previous.has_face
        track = previous if has_previous and i % detect_every else None
        obs = observe_frame(frame, i, t_ms, face_px, track) if track is not None else None
        if obs is None or not obs.has_face:
            obs = observe_frame(frame, i, t_ms, face_px, fallback=previous if has_previous else None)
        # The face may have changed size: look again widely, but not on every faceless frame (cost).
        if obs.box is None and face_px is not None and i - last_wide >= WIDE_SEARCH_EVERY:
            last_wide = i
            obs = observe_frame(frame, i, t_ms, None)
        if obs.box is not None and obs.detected:
            face_px = float(obs.box.width)
        out.append(obs)
    return out if rest_until_ms is None else rest_relative(out, rest_until_ms)


def rest_relative(observations: list[Observation], rest_until_ms: float) -> list[Observation]:
    """Yaw and pitch relative to the rest pose: solvePnP of every frame's 2-D mesh points against a 3-D
    model built from the rest frames' own meshes. A person whose natural pose is turned, or whose
    photo-like rest pose the mesh misreads, is judged by how far they turn from it, not from the camera."""
    faces = [o for o in observations if o.has_face and o.mesh is not None]
    rest = [o for o in faces if o.t_ms < rest_until_ms] or faces[:3]
    if not rest:
        return observations
    size = (rest[0].frame_width or 640, rest[0].frame_height or 480)
    model = rest_model([o.mesh for o in rest if o.mesh is not None], size)
    out = []
    for o in observations:
        if o.mesh is None:
            out.append(o)
            continue
        yaw, pitch = relative_pose(model, o.mesh)
        out.append(replace(o, yaw=yaw, pitch=pitch))
    return out


def encode_frames(capture: Capture, observations: Sequence[Observation], indices: Sequence[int]) -> dict[int, Encoding]:
    """128-d encodings of the faces in the frames at ``indices`` (positions in ``observations``)."""
    out: dict[int, Encoding] = {}
    for i in indices:
        obs = observations[i]
        if obs.box is not None:
            out[i] = encode_face(capture.frames[obs.index], obs.box)
    return out
