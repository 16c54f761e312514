"""The held-out evaluation's people, photos and jobs (``python -m simulators.capture.heldout``)."""

from __future__ import annotations

import collections
import itertools
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import cast

import numpy as np

from liveness.calibrate import LABELS, default_faces_dir
from liveness.detect import find_faces
from liveness.geometry import head_pose_from_mesh
from liveness.images import RGBImage, decode_image
from liveness.mesh import mesh_landmarks
from liveness.script import ScriptSettings
from simulators.capture.mesh3d import Pose
from simulators.capture.scenes import CAMERAS, LIGHTINGS
from simulators.capture.session import ATTACKS, Kind
from simulators.capture.subject import Camera, Lighting, build_subject, render_live_float

SCRIPT = ScriptSettings()  # the service's default: 4 s
# Which attacks each calibrated check is there to stop (its threshold sits between them and live).
TARGETS: dict[str, tuple[str, ...]] = {
    "script_followed": ("print_still", "print_moved", "eye_cutout"),
    "planarity": ("print_still", "print_moved", "eye_cutout"),
    "colour_flash": ("screen_replay", "video_injection", "injection_matched"),
    "flash_timing": ("screen_replay", "video_injection", "injection_matched"),
    "blink": ("print_still", "print_moved"),
}
REPORTED = (
    "script_followed", "reaction_timing", "planarity", "blink", "colour_flash", "flash_timing", "one_identity", "whole_face",
)  # fmt: skip
HOPPER = "grace_hopper.jpg"
# A folder of more people's photos (``--extra-faces``), ``<person>[_<n>].png|jpg``: set in the environment so the
# spawned workers see the same people as the command.
EXTRA_FACES_ENV = "HELDOUT_EXTRA_FACES"


def _base_photo_paths() -> dict[str, list[Path]]:
    """person → their photos (the shared fixtures and the public-domain portrait matplotlib ships)."""
    faces = default_faces_dir()
    people: dict[str, list[Path]] = collections.defaultdict(list)
    for name, person in LABELS.items():
        people[person].append(faces / name)
    for path in sorted((faces.parent / "faces-more").glob("p*_*.jpg")):
        people[path.stem.split("_")[0]].append(path)
    import matplotlib

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / HOPPER
    if hopper.is_file():
        people["grace_hopper"].append(hopper)
    return dict(people)


def extra_photo_paths() -> dict[str, list[Path]]:
    """person → photos in the ``--extra-faces`` folder (none when it is not set)."""
    folder = os.environ.get(EXTRA_FACES_ENV)
    people: dict[str, list[Path]] = collections.defaultdict(list)
    if folder:
        for path in sorted(Path(folder).iterdir()):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                people[path.stem.split("_")[0]].append(path)
    return dict(people)


def photo_paths() -> dict[str, list[Path]]:
    """Every person's photos: the 14 base people's and the extra folder's."""
    return {**extra_photo_paths(), **_base_photo_paths()}


@cache
def _image(path: str) -> RGBImage:
    image = decode_image(Path(path).read_bytes(), max_pixels=40_000_000, max_bytes=50_000_000)
    side = max(image.shape[:2])
    if side > 1000:  # meshing a 2500-px photo costs more and tells no more
        import cv2

        scale = 1000 / side
        image = np.asarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return image


def signed_yaw(path: str) -> float | None:
    """The photo's own head turn (degrees, signed as ``Pose.yaw``, from the Face Mesh), or None if it has no
    usable face."""
    return signed_yaw_of(_image(path))


def source_yaw_of(image: RGBImage) -> float | None:
    """:func:`signed_yaw_of`, unsigned."""
    y = signed_yaw_of(image)
    return None if y is None else abs(y)


def signed_yaw_of(image: RGBImage) -> float | None:
    """An image's own head turn (see :func:`signed_yaw`)."""
    boxes = find_faces(image, upsample=1)  # BlazeFace where HOG misses: turned photos count too
    if len(boxes) != 1:  # no face, or a group photo (p07_3.jpg): no single subject to render
        return None
    mesh = mesh_landmarks(image, boxes[0])
    return None if mesh is None else head_pose_from_mesh(mesh).yaw


def source_yaw(path: str) -> float | None:
    """The photo's own head turn (degrees, unsigned), or None if it has no usable face."""
    y = signed_yaw(path)
    return None if y is None else abs(y)


# The camera a source photo is re-rendered with (``--poses``): large, sharp, noiseless, evenly lit, so only the
# turn changes and the session's own camera adds the blur and noise.
POSED_CAMERA = Camera(size=(480, 480), distance=4.0, blur=0.0, noise=0.0, iod_fraction=0.2)


@cache
def posed_image(path: str, pose: float) -> RGBImage:
    """The photo's 3-D head re-rendered turned ``pose`` degrees from frontal, towards the side the photo already
    faces: a source photo with a chosen own turn (the pose spread 0–30° the fixtures' photos do not cover)."""
    own = signed_yaw(path) or 0.0
    target = pose if own >= 0 else -pose
    subject = build_subject(_image(path), POSED_CAMERA)
    frame = render_live_float(subject, Pose(yaw=target - own), 0.0, Lighting(side=0.0), POSED_CAMERA, None)
    return np.clip(frame, 0, 255).astype(np.uint8)


def source_image(path: str, pose: float | None) -> RGBImage:
    """What a session is rendered from: the photo, or its re-rendering at ``pose``."""
    return _image(path) if pose is None else posed_image(path, pose)


def usable_yaw(path: str) -> float | None:
    """:func:`source_yaw` for a photo the evaluation can use (one face, turned ≤ 32°), else None."""
    y = source_yaw(path)
    return y if y is not None and y <= 32.0 else None


@dataclass(frozen=True)
class Job:
    number: int
    fold: int
    person: str
    kind: Kind
    photo: str
    reference: str | None  # another photo of the same person, or None
    lighting: str
    camera: str
    seed: int
    fps: float = 15.0
    pose: float | None = None  # the source photo re-rendered at this own turn (``posed_image``), or as it is


CALIBRATION, HELD_OUT = 0, 1  # Job.fold


def fold_of() -> dict[str, int]:
    """person → CALIBRATION or HELD_OUT: the one split of people every calibration here uses (this evaluation,
    ``benchmarks.document_threshold``, ``benchmarks.registration_threshold``), fixed before any score is seen:
    every second person in name order, starting with the first (alex_lacamoire, grace_hopper, obama, p02, p04,
    p06, p08 of the 14). Grace Hopper keeps her place even where matplotlib's copy of her portrait is missing,
    so nobody's role depends on what is installed. The ``--extra-faces`` people are all held out (they came
    after the split was fixed; adding them must not move anyone else's role)."""
    names = sorted({*_base_photo_paths(), "grace_hopper"})
    folds = {person: CALIBRATION if index % 2 == 0 else HELD_OUT for index, person in enumerate(names)}
    return {**{person: HELD_OUT for person in extra_photo_paths()}, **folds}


def plan(
    live: int,
    attacks: int,
    reuse: int,
    seed: int,
    calibration_live: int | None = None,
    only: set[str] | None = None,
    poses: tuple[float, ...] | None = None,
    fold: int | None = None,
) -> tuple[list[Job], list[Job], dict[str, float]]:
    """(decision jobs, reuse-only live jobs, source yaw per photo).

    The calibration people are :func:`fold_of`'s; the others are held out. ``live`` genuine sessions per held-out person, ``calibration_live`` (default
    ``live``) per calibration person; ``attacks`` per attack kind for everyone. The ``reuse`` sessions are of
    the first held-out person, at 15 and 10 fps in turn (fewer frames, more chance likeness). ``only``
    restricts the plan to those people (tests), without changing anyone's role. With ``poses``, the sessions
    of a person go round every (pose, photo) pair, each photo re-rendered at that own turn
    (:func:`posed_image`); ``fold`` plans only that fold's people (CALIBRATION or HELD_OUT)."""
    people = photo_paths()
    yaws: dict[str, float] = {}
    usable: dict[str, list[str]] = {}
    for person, paths in sorted(people.items()):
        ok = []
        for p in paths if only is None or person in only else []:
            y = usable_yaw(str(p))
            if y is not None:
                ok.append(str(p))
                yaws[str(p)] = y
        usable[person] = ok
    extras = set(extra_photo_paths())
    persons = sorted(set(usable) - extras) + sorted(extras & set(usable))  # extras last: nobody else's index moves
    folds = fold_of()  # every person keeps the role their place among all 14 gives them
    lightings, cameras = sorted(LIGHTINGS), sorted(CAMERAS)
    jobs: list[Job] = []
    reuse_jobs: list[Job] = []
    number = 0
    for index, person in enumerate(persons):
        role = folds[person]
        photos = usable[person]
        if not photos or (fold is not None and role != fold):
            continue
        # The pose changes fastest, so a run cut short still spreads over the poses.
        sources = [(p, pose) for p in photos for pose in poses] if poses else [(p, None) for p in photos]
        attack_kinds = [cast(Kind, k) for k in ATTACKS for _ in range(attacks)]
        shift = index % max(len(attack_kinds), 1)  # each person starts at another attack: a cut-short run
        attack_kinds = attack_kinds[shift:] + attack_kinds[:shift]  # still covers every kind
        # Genuine and attack sessions alternate, so a run cut short still has both.
        count = live if role == HELD_OUT or calibration_live is None else calibration_live
        lives: list[Kind] = ["live"] * count
        kinds: list[Kind] = [k for pair in itertools.zip_longest(lives, attack_kinds) for k in pair if k is not None]
        for i, kind in enumerate(kinds):
            source, pose = sources[i % len(sources)]
            others = [p for p in photos if p != source]
            jobs.append(
                Job(number, role, person, kind, source, others[0] if others else None,
                    lightings[(i + index) % len(lightings)], cameras[(i + 2 * index) % len(cameras)],
                    seed * 1_000_003 + number, pose=pose)
            )  # fmt: skip
            number += 1
        if (
            index == 1 and person not in extras
        ):  # many independent genuine sessions of one held-out person, for false reuse (all pairs)
            for k in range(reuse):
                reuse_jobs.append(
                    Job(1_000_000 + k, role, person, "live", photos[0], None, "office", "laptop",
                        seed * 1_000_003 + 1_000_000 + k, fps=15.0 if k % 2 == 0 else 10.0)
                )  # fmt: skip
    return jobs, reuse_jobs, yaws
