"""Lighting and camera settings, and the things an attacker holds up: a print and a screen.

A print is the photo on paper (lower contrast, lifted blacks) held in front of the camera: a flat or
bent sheet, so whatever the hand does, its landmarks move as a plane (or a smooth cylinder) and never
with a face's parallax. It reflects the screen's flashes like skin does. A screen is emissive: it
shows a recorded session with its own (old) flashes, a cooler white point and moiré, and reflects the
current flashes only faintly off its glass.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from liveness.images import RGBImage
from simulators.capture.mesh3d import F32, Mesh, Pose, Raster, grid, rasterise, sample
from simulators.capture.subject import Camera, Lighting

LIGHTINGS: dict[str, Lighting] = {
    "office": Lighting(brightness=1.0, tint=(1.0, 1.0, 1.0), side=0.15, flash_gain=0.10),
    "warm_lamp": Lighting(brightness=0.85, tint=(1.08, 0.95, 0.78), side=0.35, flash_gain=0.16),
    "dim": Lighting(
        brightness=0.6, tint=(0.95, 0.97, 1.05), side=0.25, flash_gain=0.28, side_direction=(-0.6, -0.2, -0.77)
    ),
    "daylight_side": Lighting(
        brightness=1.1, tint=(0.95, 1.0, 1.1), side=0.45, flash_gain=0.07, side_direction=(-0.8, -0.3, -0.5)
    ),
}
CAMERAS: dict[str, Camera] = {
    "phone": Camera(distance=3.0, blur=0.4, noise=2.5, iod_fraction=0.2),
    "laptop": Camera(distance=4.5, blur=0.8, noise=4.0, iod_fraction=0.17),
    "cheap_webcam": Camera(distance=5.0, blur=1.1, noise=6.0, iod_fraction=0.16, face_offset=(0.05, 0.02)),
}


@dataclass(frozen=True, eq=False)
class Sheet:
    """A rectangle of paper or glass showing an image the size of the frame."""

    mesh: Mesh
    size: tuple[int, int]


def sheet(size: tuple[int, int], bend: float = 0.0) -> Sheet:
    """A frame-sized sheet; ``bend`` > 0 curls its sides away from the camera (a cylinder about the
    vertical axis, depth ``bend`` × width at the edges), as a print held by its edges bends."""
    width, height = size
    verts, tris = grid(width, height, 16, 12)
    u = (verts[:, 0] - width / 2.0) / (width / 2.0)
    verts[:, 2] = bend * width * u * u
    pivot = np.array([width / 2.0, height / 2.0, 0.0])
    return Sheet(Mesh(vertices=verts, uv=verts[:, :2].copy(), triangles=tris, pivot=pivot), size)


def room(size: tuple[int, int], rng: np.random.Generator) -> F32:
    """A plain room behind the attacker's hand: a smooth random wall colour with some texture."""
    width, height = size
    coarse = rng.uniform(60, 200, (3, 4, 3)).astype(np.float32)
    wall = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    texture = cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 2.0)
    return np.asarray(np.clip(wall + texture[..., None], 0, 255), dtype=np.float32)


def printed(image: RGBImage | F32) -> F32:
    """How a photo looks once printed on paper: muted contrast, lifted blacks, slightly warm paper."""
    img = np.asarray(image, dtype=np.float32)
    grey = img.mean(axis=2, keepdims=True)
    img = 0.85 * img + 0.15 * grey
    img = 22.0 + img * 0.82
    return np.asarray(img * np.array([1.0, 0.99, 0.95], dtype=np.float32), dtype=np.float32)


def render_sheet(
    surface: Sheet, content: F32, pose: Pose, camera: Camera, face_width: float
) -> tuple[Raster, F32, F32]:
    """(raster, content as seen, coverage 0..1 with soft edges) of a sheet under ``pose``."""
    raster = rasterise(surface.mesh, pose, surface.size, distance=camera.distance * face_width)
    seen = sample(content, raster)
    cover = np.asarray(cv2.GaussianBlur(raster.covered.astype(np.float32), (3, 3), 0), dtype=np.float32)
    return raster, seen, cover


def reflective(seen: F32, facing: F32, side: F32, lighting: Lighting, flash: tuple[float, float, float] | None) -> F32:
    """Paper under the room light and the screen's flash (Lambertian, like skin)."""
    tint = np.asarray(lighting.tint, dtype=np.float32) * np.float32(lighting.brightness)
    light = ((1.0 - lighting.side) + lighting.side * 1.6 * side)[..., None] * tint
    if flash is not None:
        light = light + np.float32(lighting.flash_gain) * facing[..., None] * np.asarray(flash, np.float32)
    return np.asarray(seen * light, dtype=np.float32)


def moire(size: tuple[int, int], rng: np.random.Generator) -> F32:
    """The beat between a screen's pixel grid and the camera's sensor: a faint slanted interference."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(3.0, 7.0)
    phase = (xs * np.cos(angle) + ys * np.sin(angle)) * (2 * np.pi / period)
    return np.asarray(1.0 + rng.uniform(0.04, 0.09) * np.sin(phase), dtype=np.float32)


def emissive(
    seen: F32,
    facing: F32,
    lighting: Lighting,
    flash: tuple[float, float, float] | None,
    pattern: F32,
    glare: float = 0.015,
) -> F32:
    """A screen showing ``seen``: its own light (cool white point, moiré), plus a faint reflection of the
    room and the current flash off the glass; the face in it cannot light up with the current flash."""
    shown = seen * np.array([0.94, 0.98, 1.06], dtype=np.float32) * 0.92 + 8.0
    shown = shown * pattern[..., None]
    tint = np.asarray(lighting.tint, dtype=np.float32) * np.float32(lighting.brightness)
    reflection = 60.0 * glare * tint
    if flash is not None:
        reflection = reflection + 255.0 * glare * lighting.flash_gain * np.asarray(flash, np.float32)
    return np.asarray(shown + facing[..., None] * reflection, dtype=np.float32)
