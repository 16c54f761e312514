"""A textured triangle mesh, rotated in 3-D and projected with true perspective, rendered by one remap.

The same renderer draws a live face (the Face Mesh of a photo, with MediaPipe's depth) and a flat or
bent sheet of paper or a screen (a grid). Rendering rasterises triangle ids far-to-near (painter's
order, so a turned nose hides the cheek behind it), then maps every covered pixel back to the source
image through its triangle's affine map; the Lambertian terms come from the rotated triangle normals.

Coordinates: x right, y down, z away from the camera (MediaPipe's convention), all in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I32 = NDArray[np.int32]


@dataclass(frozen=True, eq=False)
class Mesh:
    """``vertices`` (N×3) in source-image pixels with depth; ``uv`` (N×2) where each vertex samples the
    source image (equal to the vertices' x, y for a model built from that image); ``triangles`` (M×3)."""

    vertices: F64
    uv: F64
    triangles: I32
    pivot: F64  # the point the mesh rotates about (a head turns about the neck, behind the face)


@dataclass(frozen=True)
class Pose:
    """Degrees (yaw > 0: front towards the image's right; pitch > 0: up; roll > 0: clockwise in the image)
    and a translation in output pixels."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True, eq=False)
class Raster:
    """Per output pixel: which source pixel it shows (``map_x``/``map_y``), whether the mesh covers it, and
    the cosine of the angle between the surface normal and two light directions."""

    map_x: F32
    map_y: F32
    covered: NDArray[np.bool_]
    facing_camera: F32  # n·(towards camera): Lambertian term of a light at the camera (the screen)
    facing_side: F32  # n·(side light direction), clipped at 0


def rotation(pose: Pose) -> F64:
    y, p, r = (math.radians(a) for a in (pose.yaw, pose.pitch, pose.roll))
    ry = np.array([[math.cos(y), 0.0, -math.sin(y)], [0.0, 1.0, 0.0], [math.sin(y), 0.0, math.cos(y)]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(p), math.sin(p)], [0.0, -math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
    return np.asarray(rz @ rx @ ry, dtype=np.float64)


def transform(mesh: Mesh, pose: Pose, vertices: F64 | None = None) -> F64:
    """Rotate about the pivot, then scale and translate in the image plane (no projection yet)."""
    verts = mesh.vertices if vertices is None else vertices
    rotated = (verts - mesh.pivot) @ rotation(pose).T + mesh.pivot
    rotated[:, :2] = (rotated[:, :2] - mesh.pivot[:2]) * pose.scale + mesh.pivot[:2] + (pose.dx, pose.dy)
    rotated[:, 2] *= pose.scale
    return np.asarray(rotated, dtype=np.float64)


def project(points: F64, centre: tuple[float, float], distance: float, z0: float) -> F64:
    """Pinhole projection with the camera ``distance`` pixels in front of depth ``z0`` (where scale is 1)."""
    cx, cy = centre
    factor = distance / np.maximum(distance + points[:, 2] - z0, 1.0)
    return np.stack([cx + (points[:, 0] - cx) * factor, cy + (points[:, 1] - cy) * factor], axis=1)


def _affines(dst: F64, src: F64, tris: I32) -> F64:
    """Per triangle, the 2×3 affine map from output pixels to source pixels (batched solve)."""
    d = np.concatenate([dst[tris], np.ones((len(tris), 3, 1))], axis=2)  # M×3×3
    s = src[tris]  # M×3×2
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-6
    out = np.zeros((len(tris), 3, 2))
    out[ok] = np.linalg.solve(d[ok], s[ok])
    return np.asarray(out.transpose(0, 2, 1), dtype=np.float64)  # M×2×3


def rasterise(
    mesh: Mesh,
    pose: Pose,
    size: tuple[int, int],
    *,
    distance: float,
    side_light: tuple[float, float, float] = (0.6, -0.3, -0.74),
    vertices: F64 | None = None,
) -> Raster:
    """Where each output pixel of a ``size`` (width, height) frame samples the source under ``pose``.

    ``vertices`` replaces the mesh's vertices (e.g. eyelids moved for a blink) while ``uv`` stays, so
    the texture is stretched over the new shape."""
    width, height = size
    placed = transform(mesh, pose, vertices)
    z0 = float(np.median(placed[:, 2]))
    centre = (float(mesh.pivot[0] + pose.dx), float(mesh.pivot[1] + pose.dy))
    screen = project(placed, centre, distance, z0)
    tris = mesh.triangles
    a, b, c = placed[tris[:, 0]], placed[tris[:, 1]], placed[tris[:, 2]]
    normals = np.cross(b - a, c - a)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    # Orient each normal the way the unrotated mesh's faces the camera (z < 0); rotation keeps that.
    o = mesh.vertices
    n0 = np.cross(o[tris[:, 1]] - o[tris[:, 0]], o[tris[:, 2]] - o[tris[:, 0]])
    normals *= np.where(n0[:, 2] > 0, -1.0, 1.0)[:, None]
    # Facing the camera (the screen): cosine with (0, 0, -1). Triangles seen edge-on or from behind
    # are culled: they would smear texture across the silhouette.
    facing = np.clip(-normals[:, 2], 0.0, 1.0)
    light = np.asarray(side_light, dtype=np.float64)
    light /= np.linalg.norm(light)
    side = np.clip(normals @ light, 0.0, 1.0)
    tri_screen = screen[tris]
    area = np.cross(tri_screen[:, 1] - tri_screen[:, 0], tri_screen[:, 2] - tri_screen[:, 0])
    visible = (np.abs(area) > 0.05) & (facing > 0.02)
    depth = placed[tris, 2].mean(axis=1)
    order = [int(i) for i in np.argsort(-depth) if visible[i]]  # far first
    ids = np.full((height, width), -1, dtype=np.int32)
    pts = np.round(tri_screen * 16.0).astype(np.int32)
    for i in order:
        cv2.fillConvexPoly(ids, pts[i], (i,), lineType=cv2.LINE_8, shift=4)
    aff = _affines(screen, mesh.uv, tris)
    covered = ids >= 0
    safe = np.where(covered, ids, 0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    m = aff[safe]  # H×W×2×3
    map_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2]
    map_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2]
    return Raster(
        map_x=np.where(covered, map_x, -1.0).astype(np.float32),
        map_y=np.where(covered, map_y, -1.0).astype(np.float32),
        covered=covered,
        facing_camera=np.where(covered, facing[safe], 0.0).astype(np.float32),
        facing_side=np.where(covered, side[safe], 0.0).astype(np.float32),
    )


def sample(source: NDArray[np.float32] | NDArray[np.uint8], raster: Raster) -> F32:
    """The source image seen through ``raster`` (float32; uncovered pixels are 0)."""
    out = cv2.remap(
        np.asarray(source, dtype=np.float32),
        raster.map_x,
        raster.map_y,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return np.asarray(out, dtype=np.float32)


def delaunay(points: F64, width: int, height: int) -> I32:
    """Delaunay triangles (indices into ``points``) of 2-D points over a width×height image (points past
    its edges too: a face the camera cuts)."""
    x0 = int(min(-1.0, np.floor(points[:, 0].min()) - 1.0))
    y0 = int(min(-1.0, np.floor(points[:, 1].min()) - 1.0))
    x1 = int(max(width + 1.0, np.ceil(points[:, 0].max()) + 1.0))
    y1 = int(max(height + 1.0, np.ceil(points[:, 1].max()) + 1.0))
    subdiv = cv2.Subdiv2D((x0, y0, x1 - x0, y1 - y0))  # (-1, -1, width + 2, height + 2) for points inside
    lookup: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(points):
        key = (float(np.float32(x)), float(np.float32(y)))
        if key in lookup:
            continue
        lookup[key] = i
        subdiv.insert((key[0], key[1]))
    tris = []
    for t in subdiv.getTriangleList():
        corners = [(float(np.float32(t[k])), float(np.float32(t[k + 1]))) for k in (0, 2, 4)]
        if all(c in lookup for c in corners):
            tris.append([lookup[c] for c in corners])
    return np.asarray(tris, dtype=np.int32).reshape(-1, 3)


def grid(width: int, height: int, cols: int, rows: int) -> tuple[F64, I32]:
    """A flat grid over a width×height image: vertices (z = 0) and two triangles per cell."""
    xs = np.linspace(0.0, width - 1.0, cols + 1)
    ys = np.linspace(0.0, height - 1.0, rows + 1)
    gx, gy = np.meshgrid(xs, ys)
    verts = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
    tris = []
    for r in range(rows):
        for c in range(cols):
            i = r * (cols + 1) + c
            tris += [[i, i + 1, i + cols + 1], [i + 1, i + cols + 2, i + cols + 1]]
    return np.asarray(verts, dtype=np.float64), np.asarray(tris, dtype=np.int32)
