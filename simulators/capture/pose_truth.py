"""Head-turn measurement against the simulator's ground truth: ``python -m simulators.capture.pose_truth``.

For photos whose own head turn spreads over 0–30°, the 3-D subject is rendered at rest and turned by
±10/20/30° (pitch 5°, 640×480); the decision's reading (solvePnP of the Face Mesh against the rest frame's
own mesh, ``liveness.geometry.relative_pose``) and the earlier direct reading (the mesh's facing normal,
minus its rest value) are compared with the true turn. Prints the error distribution of each.

With ``--poses 0,8,16,24,30`` it measures instead what the decision reads for people who rest turned: each
person's first usable photo is re-rendered at each own turn (``heldout_plan.posed_image``), then a session-like
set of frames (three rest frames with sway, turns of ±5–28° both ways, a nod, turns with pitch; laptop camera,
320×240) is read relative to those rest frames. Printed per fold (calibration people, held-out people) and rest
pose: mean and max |error|, and the median and lowest share of the true turn read on frames turned ≥ 15° away
from frontal (further the way the person already faces) and back through frontal.
"""

from __future__ import annotations

import argparse

import numpy as np

from liveness.geometry import head_pose_from_mesh, relative_pose, rest_model
from liveness.observe import observe_frame
from liveness.pipeline import PipelineSettings, analyze_frame
from simulators.capture.heldout_plan import (
    CALIBRATION,
    _image,
    fold_of,
    photo_paths,
    posed_image,
    source_yaw,
    usable_yaw,
)
from simulators.capture.mesh3d import Pose
from simulators.capture.scenes import CAMERAS, LIGHTINGS
from simulators.capture.subject import Camera, Lighting, build_subject, render_live

SETTINGS = PipelineSettings(upsample=1, encode=False)
TURNS = (-30.0, -20.0, -10.0, 10.0, 20.0, 30.0)
# (yaw, pitch) of the turned frames of --poses, relative to the rest pose: a script's turns are 19–28°, its nod 0.6 of that.
POSED_TURNS = (
    (-28.0, 0.0), (-22.0, 0.0), (-16.0, 0.0), (-10.0, 0.0), (-5.0, 0.0), (5.0, 0.0), (10.0, 0.0), (16.0, 0.0),
    (22.0, 0.0), (28.0, 0.0), (0.0, 14.0), (20.0, 8.0), (-20.0, 8.0),
)  # fmt: skip


def posed_errors(path: str, pose: float) -> tuple[list[float], list[float], list[float]] | None:
    """(errors of every frame, shares read turning away, shares read turning back) for ``path`` re-rendered at
    an own turn of ``pose``; None if a rest frame has no mesh."""
    camera = CAMERAS["laptop"]
    subject = build_subject(posed_image(path, pose), camera)
    rng = np.random.default_rng(1)
    rest = []
    for k in range(3):
        sway = float(np.sin(k))  # as the session's sway: ±1° yaw, ±1.2° roll, ±2 px
        frame = render_live(
            subject, Pose(yaw=sway, roll=1.2 * sway, dx=2.0 * sway), 0.0, LIGHTINGS["office"], camera, None, rng
        )
        mesh = observe_frame(frame, 0, 0.0, None).mesh
        if mesh is None:
            return None
        rest.append(mesh)
    model = rest_model(rest, camera.size)
    own = float(np.median([head_pose_from_mesh(m).yaw for m in rest]))
    errors: list[float] = []
    away: list[float] = []
    back: list[float] = []
    for yaw, pitch in POSED_TURNS:
        frame = render_live(subject, Pose(yaw=yaw, pitch=pitch), 0.0, LIGHTINGS["office"], camera, None, rng)
        mesh = observe_frame(frame, 0, 0.0, None).mesh
        if mesh is None:
            continue
        read = relative_pose(model, mesh)[0]
        errors.append(read - yaw)
        if abs(yaw) >= 15.0:
            (away if yaw * own > 0 or pose == 0.0 else back).append(read / yaw)
    return errors, away, back


def posed_report(poses: list[float]) -> None:
    folds = fold_of()
    photos = {}
    for person, paths in sorted(photo_paths().items()):
        usable = [str(p) for p in paths if usable_yaw(str(p)) is not None]
        if usable:
            photos[person] = usable[0]
    print(
        "| people | rest pose | people | frames | mean |error| | max |error| | away: median share (lowest) | back: median share (lowest) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for fold, label in ((CALIBRATION, "calibration"), (1 - CALIBRATION, "held out")):
        for pose in poses:
            errors: list[float] = []
            away: list[float] = []
            back: list[float] = []
            people = 0
            for person, path in photos.items():
                if folds[person] != fold:
                    continue
                got = posed_errors(path, pose)
                if got is None:
                    continue
                people += 1
                errors += got[0]
                away += got[1]
                back += got[2]
            e = np.abs(np.asarray(errors))

            def share(v: list[float]) -> str:
                return f"{np.median(v):.2f} ({min(v):.2f})" if v else "–"

            print(
                f"| {label} | {pose:.0f}° | {people} | {len(e)} | {e.mean():.1f}° | {e.max():.1f}° | {share(away)} | {share(back)} |"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.capture.pose_truth", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--exclude", default="", help="comma-separated photo names to leave out")
    parser.add_argument(
        "--poses", default="", help="comma-separated own turns (degrees): measure people who rest turned"
    )
    args = parser.parse_args(argv)
    if args.poses:
        posed_report([float(p) for p in args.poses.split(",")])
        return 0
    candidates = [(str(p), source_yaw(str(p))) for paths in photo_paths().values() for p in paths]
    skip = set(filter(None, args.exclude.split(",")))
    usable = sorted(
        ((p, y) for p, y in candidates if y is not None and y <= 30.0 and p.rsplit("/", 1)[-1] not in skip),
        key=lambda c: c[1],
    )
    picks = sorted({round(i) for i in np.linspace(0, len(usable) - 1, min(args.photos, len(usable)))})
    chosen = [usable[i] for i in picks]  # evenly over the range of own turns
    camera = Camera(size=(640, 480))
    errors: dict[str, list[float]] = {"solvePnP vs rest mesh (used)": [], "mesh normal minus rest (before)": []}
    missed = 0
    for path, own in chosen:
        subject = build_subject(_image(path), camera)
        rng = np.random.default_rng(0)
        rest = analyze_frame(
            render_live(subject, Pose(pitch=5.0), 0.0, Lighting(), camera, None, rng), SETTINGS
        ).primary
        if rest is None or rest.mesh is None:
            missed += len(TURNS)
            continue
        model = rest_model([rest.mesh], camera.size)
        for turn in TURNS:
            frame = render_live(subject, Pose(yaw=turn, pitch=5.0), 0.0, Lighting(), camera, None, rng)
            face = analyze_frame(frame, SETTINGS).primary
            if face is None or face.mesh is None:
                missed += 1
                continue
            used = relative_pose(model, face.mesh)[0] - turn
            errors["solvePnP vs rest mesh (used)"].append(used)
            errors["mesh normal minus rest (before)"].append(face.pose.yaw - rest.pose.yaw - turn)
            if abs(used) > 10.0:
                print(f"  {path.rsplit('/', 1)[-1]}: turn {turn:+.0f}° read {used + turn:+.1f}°")
        print(f"- {path.rsplit('/', 1)[-1]} (own turn {own:.0f}°)")
    print(f"\n{len(chosen)} photos, own turns {chosen[0][1]:.0f}–{chosen[-1][1]:.0f}°; frames with no face: {missed}\n")
    print("| reading | frames | mean error | SD | 90th pct |error| | max |error| |")
    print("|---|---|---|---|---|---|")
    for name, values in errors.items():
        v = np.asarray(values)
        a = np.abs(v)
        print(
            f"| {name} | {len(v)} | {v.mean():+.2f}° | {v.std():.2f}° | {np.percentile(a, 90):.1f}° | {a.max():.1f}° |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
