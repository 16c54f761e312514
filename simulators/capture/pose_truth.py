"""Head-turn measurement against the simulator's ground truth: ``python -m simulators.capture.pose_truth``.

For photos whose own head turn spreads over 0–30°, the 3-D subject is rendered at rest and turned by
±10/20/30° (pitch 5°, 640×480); the decision's reading (solvePnP of the Face Mesh against the rest frame's
own mesh, ``liveness.geometry.relative_pose``) and the earlier direct reading (the mesh's facing normal,
minus its rest value) are compared with the true turn. Prints the error distribution of each.
"""

from __future__ import annotations

import argparse

import numpy as np

from liveness.geometry import relative_pose, rest_model
from liveness.pipeline import PipelineSettings, analyze_frame
from simulators.capture.heldout_plan import _image, photo_paths, source_yaw
from simulators.capture.mesh3d import Pose
from simulators.capture.subject import Camera, Lighting, build_subject, render_live

SETTINGS = PipelineSettings(upsample=1, encode=False)
TURNS = (-30.0, -20.0, -10.0, 10.0, 20.0, 30.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.capture.pose_truth", description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--exclude", default="", help="comma-separated photo names to leave out")
    args = parser.parse_args(argv)
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
