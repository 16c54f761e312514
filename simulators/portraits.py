"""A registration photo (R-6.1) for each simulated person, rendered, never copied from the fixtures.

R-6.1 asks for a light-coloured frontal photo, neutral face, mouth closed; the shared press photos are
none of that (dark or busy backgrounds, smiles, small faces). So each person's source photo is meshed
and re-rendered by the capture simulator's 3-D renderer (``simulators.capture.subject``): the head is
turned to face the camera, the lips are brought together (the mouth-closing counterpart of its blink),
the face is framed at ISO/IEC 19794-5 token size, and it is composed on a plain light background. The
same source photo is the person's state photo at the CDAO, so the CDAO simulator's real face matcher
answers a match for the rendered photo (and the liveness package's quality check passes it).

Rendering is deterministic (no noise, fixed framing): the same source gives the same JPEG bytes on the
same library versions. It needs the face stack (``liveness``: dlib, MediaPipe) and costs about a second.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

# Inner-lip contour pairs (Face Mesh indices), upper with lower, from the mouth corner (78) to the other (308).
INNER_LIPS: Final = ((191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318), (415, 324))
# The outer lip line follows partly, so a smile's open lips close without a step at the lip edge.
OUTER_LIPS: Final = ((185, 146), (40, 91), (39, 181), (37, 84), (0, 17), (267, 314), (269, 405), (270, 321), (409, 375))
BACKGROUND: Final = (226.0, 228.0, 230.0)  # a light, neutral studio grey


@dataclass(frozen=True)
class Framing:
    """Output size and where the face sits: ``iod_fraction`` is the eye distance as a share of the width
    (0.24 of 480 px = 115 px, above the 90 px R-6.1 check); ``head_scale`` sizes the kept head region."""

    size: tuple[int, int] = (480, 600)
    iod_fraction: float = 0.33
    head_scale: float = 1.0
    quality: int = 92


def _closed_mouth(vertices: NDArray[np.float64]) -> NDArray[np.float64]:
    verts = vertices.copy()
    for pairs, share in ((INNER_LIPS, 1.0), (OUTER_LIPS, 0.85)):
        for upper, lower in pairs:
            middle = (vertices[upper] + vertices[lower]) / 2.0
            verts[upper] += share * (middle - vertices[upper])
            verts[lower] += share * (middle - vertices[lower])
    return verts


def _head_mask(verts: NDArray[np.float64], size: tuple[int, int], scale: float) -> NDArray[np.float32]:
    """A soft ellipse around the face and hair (the backdrop outside it becomes the plain background)."""
    width, height = size
    xs, ys = verts[:, 0], verts[:, 1]
    cx, top, bottom = float(xs.mean()), float(ys.min()), float(ys.max())
    face_w, face_h = float(xs.max() - xs.min()), bottom - top
    mask = np.zeros((height, width), dtype=np.float32)
    centre = (round(cx), round(top + 0.42 * face_h))
    axes = (round(0.64 * face_w * scale), round(0.78 * face_h * scale))
    cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, (1.0,), -1)
    # Neck and shoulders below the chin, so the head does not float.
    neck = np.array(
        [
            [cx - 0.32 * face_w, bottom - 0.1 * face_h],
            [cx + 0.32 * face_w, bottom - 0.1 * face_h],
            [cx + 1.1 * face_w, height],
            [cx - 1.1 * face_w, height],
        ]
    )
    cv2.fillConvexPoly(mask, np.round(neck).astype(np.int32), (1.0,))
    blur = max(3.0, 0.04 * face_w)
    return np.asarray(cv2.GaussianBlur(mask, (0, 0), blur), dtype=np.float32)


def _pose(image: NDArray[np.uint8]) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) of the largest face, in liveness's convention (which the renderer's Pose shares)."""
    from liveness.pipeline import PipelineSettings, analyze_frame

    face = analyze_frame(image, PipelineSettings(upsample=1, encode=False, max_faces=1)).primary
    if face is None:
        return None
    return face.pose.yaw, face.pose.pitch or 0.0, face.pose.roll


def render_portrait(source: bytes, framing: Framing | None = None) -> bytes:
    """A compliant frontal JPEG of the person in ``source`` (JPEG/PNG). Raises liveness's FaceNotFound.

    The head is turned by minus the pose measured on the source, then by minus what is left on the render
    (one refinement: the mesh's depth is approximate), so the result faces the camera within a few degrees."""
    from liveness.images import decode_image
    from simulators.capture.mesh3d import Pose, rasterise, sample
    from simulators.capture.subject import Camera, Lighting, build_subject, lit

    framing = framing or Framing()
    camera = Camera(size=framing.size, distance=6.0, blur=0.0, noise=0.0, iod_fraction=framing.iod_fraction)
    subject = build_subject(decode_image(source), camera)
    lighting = Lighting(brightness=1.0, side=0.1)
    verts = _closed_mouth(subject.mesh.vertices)
    head = _head_mask(verts, framing.size, framing.head_scale)[..., None]
    plain = np.empty_like(subject.texture)
    plain[...] = np.asarray(BACKGROUND, dtype=np.float32)

    def draw(turn: tuple[float, float, float]) -> NDArray[np.uint8]:
        pose = Pose(yaw=turn[0], pitch=turn[1], roll=turn[2])
        distance = camera.distance * subject.face_width
        raster = rasterise(subject.mesh, pose, subject.size, distance=distance, vertices=verts)
        face = lit(sample(subject.texture, raster), raster.facing_camera, raster.facing_side, lighting, None)
        cover = np.asarray(cv2.GaussianBlur(raster.covered.astype(np.float32), (3, 3), 0), dtype=np.float32)
        person = subject.backdrop * (1.0 - cover[..., None]) + face * cover[..., None]
        return np.asarray(np.clip(plain * (1.0 - head) + person * head, 0, 255), dtype=np.uint8)

    image = draw((0.0, 0.0, 0.0))
    turn = (0.0, 0.0, 0.0)
    for _ in range(2):
        left = _pose(image)
        if left is None or max(abs(a) for a in left) <= 3.0:
            break
        turn = (turn[0] - left[0], turn[1] - left[1], turn[2] - left[2])
        image = draw(turn)
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=framing.quality, optimize=True)
    return out.getvalue()


def portrait_of(source: Path, cache_dir: Path | None = None, framing: Framing | None = None) -> bytes:
    """``render_portrait`` of a file, kept in ``cache_dir`` (named by the source's name) when given."""
    if cache_dir is not None:
        cached = cache_dir / f"{source.stem}.portrait.jpg"
        if cached.is_file():
            return cached.read_bytes()
    data = render_portrait(source.read_bytes(), framing)
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(cached)
    return data
