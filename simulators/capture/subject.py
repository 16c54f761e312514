"""A live subject built from one real photo: its Face Mesh as a 3-D head, lit by the room and the screen.

The photo is scaled so the face has a chosen size in the output frame; the 468 Face Mesh points (with
MediaPipe's depth) become a textured mesh that turns about a pivot behind the face, with perspective,
so the landmarks move with true parallax. The rest of the photo (hair, body, background) stays as a
backdrop whose face area is inpainted. A blink moves the upper-lid points onto the lower lid, which
stretches the lid skin over the eye. Skin reflects the screen's colour flash with a Lambertian term
(the normal's cosine towards the screen at the camera).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.detect import find_faces
from liveness.errors import FaceNotFound
from liveness.images import RGBImage
from liveness.mesh import mesh_landmarks
from simulators.capture.mesh3d import F32, F64, Mesh, Pose, delaunay, rasterise, sample

# Upper- and lower-lid contour points of each eye, paired by position along the lid (Face Mesh indices).
LID_PAIRS = (
    (246, 7),
    (161, 163),
    (160, 144),
    (159, 145),
    (158, 153),
    (157, 154),
    (173, 155),
    (466, 249),
    (388, 390),
    (387, 373),
    (386, 374),
    (385, 380),
    (384, 381),
    (398, 382),
)
# The second ring above each eye moves a little with the lid (the crease follows a blink).
CREASE_PAIRS = ((247, 7), (30, 163), (29, 144), (27, 145), (28, 153), (56, 154), (190, 155))
CREASE_PAIRS_LEFT = ((467, 249), (260, 390), (259, 373), (257, 374), (258, 380), (286, 381), (414, 382))
CHEEKS = (234, 454)
EYE_RINGS = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
    (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
)


@dataclass(frozen=True)
class Lighting:
    """brightness: ambient level (1 = the photo's own exposure); tint: white balance of the room light;
    side: share of the ambient light coming from one side (shading that turns with the head);
    flash_gain: how strongly the screen lights the face relative to the ambient light;
    background_flash: the same for the background (far from the screen, so small)."""

    brightness: float = 1.0
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    side: float = 0.2
    side_direction: tuple[float, float, float] = (0.6, -0.3, -0.74)
    flash_gain: float = 0.15
    background_flash: float = 0.02


@dataclass(frozen=True)
class Camera:
    """distance: camera to face, in face widths (a selfie ~3, arm's length ~5); blur: defocus σ in px;
    noise: sensor noise σ in grey levels; size: output (width, height); iod_fraction: the eye distance as
    a share of the frame width."""

    size: tuple[int, int] = (320, 240)
    distance: float = 4.0
    blur: float = 0.6
    noise: float = 3.0
    iod_fraction: float = 0.18
    face_offset: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, eq=False)
class Subject:
    texture: F32  # the scaled photo, frame-sized, float RGB
    backdrop: F32  # the same with the face area inpainted
    mesh: Mesh
    face_width: float
    size: tuple[int, int]


def _frame_photo(photo: RGBImage, centre: F64, scale: float, size: tuple[int, int], target: F64) -> RGBImage:
    """The photo scaled by ``scale`` and shifted so ``centre`` lands on ``target`` in a ``size`` frame."""
    small, factor = photo, scale
    if scale < 0.5:  # pre-shrink with area averaging to twice the final size: warpAffine alone would alias
        small = np.asarray(cv2.resize(photo, None, fx=scale * 2, fy=scale * 2, interpolation=cv2.INTER_AREA))
        factor = 0.5
    # In the (possibly pre-shrunk) image the centre sits at centre·scale/factor.
    matrix = np.array([[factor, 0.0, target[0] - scale * centre[0]], [0.0, factor, target[1] - scale * centre[1]]])
    return np.asarray(
        # Beyond the photo's edge its border pixels are repeated: a mirrored border (BORDER_REFLECT_101, before)
        # put mirror copies of a tightly cropped face beside it, so genuine sessions showed three faces.
        cv2.warpAffine(small, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        dtype=np.uint8,
    )


def build_subject(photo: RGBImage, camera: Camera | None = None) -> Subject:
    """Mesh the photo's largest face and place it in the camera frame. Raises FaceNotFound."""
    camera = camera or Camera()
    boxes = find_faces(photo, upsample=1)  # BlazeFace where HOG misses a turned head
    if not boxes:
        raise FaceNotFound("no face in the subject photo")
    mesh_pts = mesh_landmarks(photo, boxes[0])
    if mesh_pts is None:
        raise FaceNotFound("Face Mesh found no face in the subject photo")
    pts = mesh_pts[:468].astype(np.float64)
    iod = float(np.linalg.norm(pts[263, :2] - pts[33, :2]))
    width, height = camera.size
    scale = camera.iod_fraction * width / iod
    centre = pts[:, :2].mean(axis=0)
    target = np.array([width * (0.5 + camera.face_offset[0]), height * (0.47 + camera.face_offset[1])])
    texture = _frame_photo(photo, centre, scale, camera.size, target)
    verts = np.empty_like(pts)
    verts[:, :2] = (pts[:, :2] - centre) * scale + target
    verts[:, 2] = pts[:, 2] * scale
    face_width = float(np.linalg.norm(verts[CHEEKS[0], :2] - verts[CHEEKS[1], :2]))
    # A head turns about the neck, roughly three quarters of a face width behind the face.
    pivot = np.array([target[0], target[1] + 0.1 * face_width, float(verts[:, 2].mean()) + 0.75 * face_width])
    tris = delaunay(verts[:, :2], width, height)
    hull = cv2.convexHull(np.round(verts[:, :2]).astype(np.int32))
    mask = np.zeros((height, width), dtype=np.uint8)
    cv2.fillConvexPoly(mask, hull, (255,))
    mask = np.asarray(cv2.dilate(mask, np.ones((5, 5), np.uint8)), dtype=np.uint8)
    backdrop = cv2.inpaint(texture, mask, 5, cv2.INPAINT_TELEA)
    mesh = Mesh(vertices=verts, uv=verts[:, :2].copy(), triangles=tris, pivot=pivot)
    return Subject(
        texture=texture.astype(np.float32),
        backdrop=np.asarray(backdrop, dtype=np.float32),
        mesh=mesh,
        face_width=face_width,
        size=camera.size,
    )


def blinked(mesh: Mesh, closure: float) -> F64:
    """Vertices with the eyes ``closure`` (0 open … 1 shut) closed: upper lids slide onto the lower lids."""
    verts = mesh.vertices.copy()
    if closure <= 0:
        return verts
    c = min(closure, 1.0)
    for upper, lower in LID_PAIRS:
        verts[upper] += 0.95 * c * (mesh.vertices[lower] - mesh.vertices[upper])
    for upper, lower in CREASE_PAIRS + CREASE_PAIRS_LEFT:
        verts[upper] += 0.35 * c * (mesh.vertices[lower] - mesh.vertices[upper])
    return verts


def lit(
    albedo: F32, facing_camera: F32, facing_side: F32, lighting: Lighting, flash: tuple[float, float, float] | None
) -> F32:
    """Ambient light (with a side component that follows the surface normal) plus the screen's flash."""
    tint = np.asarray(lighting.tint, dtype=np.float32) * np.float32(lighting.brightness)
    ambient = (1.0 - lighting.side) + lighting.side * 1.6 * facing_side
    light = ambient[..., None] * tint
    if flash is not None:
        light = light + np.float32(lighting.flash_gain) * facing_camera[..., None] * np.asarray(flash, np.float32)
    return np.asarray(albedo * light, dtype=np.float32)


def camera_noise(image: F32, camera: Camera, rng: np.random.Generator) -> RGBImage:
    out = image
    if camera.blur > 0.05:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), camera.blur), dtype=np.float32)
    if camera.noise > 0:
        out = out + rng.normal(0.0, camera.noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def render_live_float(
    subject: Subject,
    pose: Pose,
    closure: float,
    lighting: Lighting,
    camera: Camera,
    flash: tuple[float, float, float] | None,
) -> F32:
    """The live subject in front of its backdrop, before the camera's blur and noise (float RGB)."""
    raster = rasterise(
        subject.mesh,
        pose,
        subject.size,
        distance=camera.distance * subject.face_width,
        side_light=lighting.side_direction,
        vertices=blinked(subject.mesh, closure),
    )
    face = lit(sample(subject.texture, raster), raster.facing_camera, raster.facing_side, lighting, flash)
    background = backdrop_lit(subject.backdrop, lighting, flash)
    cover = raster.covered.astype(np.float32)
    cover = np.asarray(cv2.GaussianBlur(cover, (3, 3), 0), dtype=np.float32)[..., None]
    return np.asarray(background * (1.0 - cover) + face * cover, dtype=np.float32)


def render_live(
    subject: Subject,
    pose: Pose,
    closure: float,
    lighting: Lighting,
    camera: Camera,
    flash: tuple[float, float, float] | None,
    rng: np.random.Generator,
) -> RGBImage:
    """One camera frame of the live subject."""
    return camera_noise(render_live_float(subject, pose, closure, lighting, camera, flash), camera, rng)


def backdrop_lit(backdrop: F32, lighting: Lighting, flash: tuple[float, float, float] | None) -> F32:
    tint = np.asarray(lighting.tint, dtype=np.float32) * np.float32(lighting.brightness)
    light = tint
    if flash is not None:
        light = light + np.float32(lighting.flash_gain * lighting.background_flash) * np.asarray(flash, np.float32)
    return np.asarray(backdrop * light, dtype=np.float32)


def eye_hole_mask(subject: Subject, grow: float = 1.25) -> NDArray[np.uint8]:
    """A mask (in texture pixels) of both eyes, slightly enlarged: the holes cut in a printed photo."""
    mask = np.zeros(subject.texture.shape[:2], dtype=np.uint8)
    for ring in EYE_RINGS:
        pts = subject.mesh.vertices[list(ring), :2]
        centre = pts.mean(axis=0)
        poly = np.round(centre + (pts - centre) * grow).astype(np.int32)
        cv2.fillPoly(mask, [poly], (255,))
    return mask
