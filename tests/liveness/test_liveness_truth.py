"""The decision's measures against the capture simulator's ground truth, and the defences in depth:
head pose relative to the capture's own rest pose (source photos turned 0–15°), a partial face, two
independent sessions of one person, a pre-recorded genuine video in the script's own order."""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from liveness import fingerprint
from liveness.capture import decode_video, from_arrays
from liveness.checks_signal import check_flash
from liveness.decision import Reference, decide, judge, observe_capture
from liveness.images import RGBImage, decode_image
from liveness.match import reference_encoding
from liveness.observe import observe
from liveness.script import Script, ScriptSettings, new_script
from liveness.verdict import LivenessSettings
from simulators.capture.injection_depth import layers
from simulators.capture.session import Kind, SessionSpec, draw_motion, mp4_bytes, pose_at, simulate
from tests.liveness.photos import photo
from tests.shared import fixture_path

SETTINGS = ScriptSettings()  # the service's default 4 s script


@cache
def _more(name: str) -> RGBImage:
    return decode_image(fixture_path("faces-more", name).read_bytes(), max_pixels=40_000_000, max_bytes=50_000_000)


def script_for(seed: int) -> Script:
    return new_script(f"truth-{seed}", now_ms=0, settings=SETTINGS, seed=seed)


@cache
def rendered(kind: Kind, seed: int, subject: str = "obama_1.jpg", pose: float | None = None) -> bytes:
    """A session of ``subject``; with ``pose``, of the photo's 3-D head re-rendered at that own turn first."""
    if pose is not None:
        from simulators.capture.heldout_plan import posed_image

        folder = "faces-more" if subject.startswith("p0") else "faces"
        source = posed_image(str(fixture_path(folder, subject)), pose)
    else:
        source = photo(subject) if not subject.startswith("p0") else _more(subject)
    spec = SessionSpec(kind=kind, lighting="office", camera="laptop", fps=15.0, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        return mp4_bytes(simulate(source, script_for(seed), spec), Path(folder))


def _yaw_errors(subject: str, seed: int, pose: float | None) -> tuple[NDArray[np.float64], list[float]]:
    """|read − true| yaw relative to the rest pose over every frame with a face, and read/true on the frames turned
    ≥ 15° (the script's own turns, both ways)."""
    script = script_for(seed)
    capture = decode_video(rendered("live", seed, subject, pose))
    observations = observe(capture, rest_until_ms=script.actions[0].start_ms)
    motion = draw_motion(script, np.random.default_rng(seed))  # what the simulator drew for this seed
    errors = []
    peaks = []
    for o in observations:
        if o.yaw is None:
            continue
        truth = pose_at(script, motion, o.t_ms)[0].yaw - pose_at(script, motion, 0.0)[0].yaw
        errors.append(o.yaw - truth)
        if abs(truth) >= 15.0:
            peaks.append(o.yaw / truth)
    assert len(errors) >= 50 and peaks
    return np.abs(np.asarray(errors)), peaks


# Source photos with their own turn: frontal, 12° (biden_1), 14° (obama_2, p06_1); and frontal photos
# re-rendered at an own turn of 24° and 30° (the person rests turned: a turn away reaches 50°+).
@pytest.mark.parametrize(
    ("subject", "seed", "pose"),
    [
        ("obama_1.jpg", 1, None),
        ("biden_1.jpg", 2, None),
        ("obama_2.jpg", 3, None),
        ("p06_1.jpg", 4, None),
        # Known defect (issue 13, item 2): from a rest turned 24–30°, the deepest frames of a turn away (to 50–55°)
        # still read ~10° short (16–17° of 26°, 14° of 24°): past ~40° of absolute turn the Face Mesh's own
        # landmarks, the inner ones too, sit where a less turned face's would (solvePnP of the simulator's projected
        # vertices reads the turn right). Strict: the mark must go when the geometry is fixed.
        pytest.param(
            "obama_1.jpg", 5, 24.0, marks=pytest.mark.xfail(strict=True, reason="turn away from a turned rest")
        ),
        pytest.param("p06_1.jpg", 6, 30.0, marks=pytest.mark.xfail(strict=True, reason="turn away from a turned rest")),
    ],
)
def test_yaw_relative_to_the_rest_pose_agrees_with_the_ground_truth(
    subject: str, seed: int, pose: float | None
) -> None:
    err, peaks = _yaw_errors(subject, seed, pose)
    # A few degrees: mean ≤ 3°, every frame within 8°; turned frames read at 80–120 % of the truth.
    assert float(err.mean()) <= 3.0 and float(err.max()) <= 8.0, (float(err.mean()), float(err.max()))
    assert 0.8 <= float(np.median(peaks)) <= 1.2


@pytest.mark.parametrize(("subject", "seed", "pose"), [("obama_1.jpg", 5, 24.0), ("p06_1.jpg", 6, 30.0)])
def test_a_turn_away_from_a_turned_rest_reads_most_of_the_turn(subject: str, seed: int, pose: float) -> None:
    """What holds now for a person resting turned 24–30° (the pose fit leaves out the face oval and outer cheeks,
    which the mesh puts on the silhouette when the head turns further away): mean error ≤ 3°, turned frames at
    80–120 % of the truth in the median, no frame off by more than 12° (before: 19°, a 26° turn away read 8–12°)."""
    err, peaks = _yaw_errors(subject, seed, pose)
    assert float(err.mean()) <= 3.0 and float(err.max()) <= 12.0, (float(err.mean()), float(err.max()))
    assert 0.8 <= float(np.median(peaks)) <= 1.2


@cache
def _reference() -> Reference:
    return Reference(reference_encoding(photo("obama_4_480p.jpg"), "registration"), "registration")


def test_two_independent_sessions_of_one_person_are_both_accepted_and_not_seen_as_reuse() -> None:
    prints = []
    for seed in (21, 22):
        verdict = decide(decode_video(rendered("live", seed)), script_for(seed), _reference(), now_ms=1_000)
        assert verdict.passed, [c for c in verdict.checks if not c.passed]
        assert verdict.fingerprint is not None
        prints.append(fingerprint.Fingerprint.from_json(verdict.fingerprint))
    assert not fingerprint.seen_before(prints[1], [prints[0]])


def test_a_partial_face_is_refused_with_its_own_reason() -> None:
    """The face half out of the frame (the camera aimed too far to one side)."""
    live = decode_video(rendered("live", 21))
    shifted = []
    for frame in live.frames:
        w = frame.shape[1]
        moved = np.zeros_like(frame)
        cut = w * 2 // 5  # the picture moved 40 % of its width left: a third of the face is off the edge
        moved[:, : w - cut] = frame[:, cut:]
        moved[:, w - cut :] = frame[:, -1:]
        shifted.append(moved)
    verdict = decide(from_arrays(shifted, live.timestamps_ms), script_for(21), _reference(), now_ms=1_000)
    assert not verdict.passed and verdict.reasons[0] == "partial_face", verdict.reasons
    whole = verdict.check("whole_face")
    assert whole is not None and whole.score < 0.8


# The layers an in-order injection must fail at least two of: the flashes' colours, the flashes' change times
# (whatever their colours) and the reaction to the action cues (head and eyes, no flash at all).
INJECTION_LAYERS = ("colour_flash", "flash_timing", "reaction_timing")


def _same_order(recorded: Script, count: int) -> list[Script]:
    order = [a.kind for a in recorded.actions]
    drawn = (script_for(seed) for seed in range(1000, 100_000))
    return list(itertools.islice((s for s in drawn if [a.kind for a in s.actions] == order), count))


def test_a_prerecorded_genuine_video_in_the_scripts_order_fails_two_independent_checks() -> None:
    """A genuine recording of the victim made for another script with the same order of actions, injected for
    each of 60 random new scripts of that order (no pair chosen): every one fails at least two of the three
    layers, while the recording judged for its own script passes them all and the whole decision (FACE.md,
    injected video; ``python -m simulators.capture.injection_depth`` measures the rate over 8,400 pairs)."""
    recorded = script_for(21)
    capture = decode_video(rendered("live", 21))
    observations = observe_capture(capture, recorded)
    settings = LivenessSettings()
    own = judge(capture, observations, recorded, _reference(), settings)
    assert own.passed, own.reasons
    fewer = []
    for new in _same_order(recorded, 60):
        failed = [name for name, r in layers(observations, new, settings).items() if not r.passed]
        if len(failed) < 2:
            fewer.append((new.nonce, failed))
    assert not fewer, fewer
    # The whole decision names them too.
    verdict = judge(capture, observations, _same_order(recorded, 1)[0], _reference(), settings)
    assert not verdict.passed and len(set(INJECTION_LAYERS) & set(verdict.reasons)) >= 2, verdict.reasons


def test_flash_timing_judges_the_change_times_whatever_the_colours() -> None:
    """The genuine recording against its own flashes with the colours changed passes ``flash_timing`` and
    fails ``colour_flash``; with its own colours moved to other times it fails ``flash_timing``: the two flash
    layers rest on different draws of the script (colours and lengths)."""
    recorded = script_for(21)
    observations = observe_capture(decode_video(rendered("live", 21)), recorded)
    settings = LivenessSettings()
    palette = [c for c in SETTINGS.palette]
    recoloured = dataclasses.replace(
        recorded,
        flashes=tuple(
            dataclasses.replace(f, colour=palette[(palette.index(f.colour) + 3) % len(palette)])
            for f in recorded.flashes
        ),
    )
    timing, colours = (
        layers(observations, recoloured, settings)["flash_timing"],
        check_flash(observations, recoloured, settings),
    )
    assert timing.passed and timing.score >= 0.95, timing
    assert not colours.passed, colours
    # Same colours in the same order, each change 200 ms later (past every latency tried): only the times differ.
    shifted = dataclasses.replace(
        recorded,
        flashes=tuple(
            dataclasses.replace(
                f, start_ms=f.start_ms + (200 if i else 0), end_ms=min(f.end_ms + 200, recorded.duration_ms)
            )
            for i, f in enumerate(recorded.flashes)
        ),
    )
    late = layers(observations, shifted, settings)["flash_timing"]
    assert not late.passed and late.score < 0.8, late


def test_a_head_turned_past_the_frontal_detector_is_still_followed() -> None:
    """HOG (a frontal detector) loses this rendered face once it turns ~10° towards its own side; the
    mesh, searched around the previous frame's mesh, keeps it (before: those frames had no face, and a
    genuine session failed face_presence or script_followed for want of its turned frames)."""
    from liveness.detect import detect_faces
    from simulators.capture.mesh3d import Pose
    from simulators.capture.scenes import CAMERAS, LIGHTINGS
    from simulators.capture.subject import build_subject, render_live

    camera = CAMERAS["laptop"]
    subject = build_subject(photo("alex_lacamoire_2.png"), camera)
    rng = np.random.default_rng(0)
    turns = [0.0, 0.0, 0.0, 4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 24.0, 20.0, 12.0, 4.0, 0.0]
    frames = [render_live(subject, Pose(yaw=y), 0.0, LIGHTINGS["office"], camera, None, rng) for y in turns]
    assert not any(detect_faces(f, upsample=1) for f, y in zip(frames, turns, strict=True) if y >= 16.0)
    capture = from_arrays(frames, [i * 1000.0 / 15.0 for i in range(len(frames))])
    observations = observe(capture, rest_until_ms=150.0)
    assert all(o.has_face for o in observations)
    read = {t: o.yaw for t, o in zip(turns, observations, strict=True) if o.yaw is not None}
    assert read[24.0] is not None and read[24.0] >= 16.0, read


def test_a_face_turned_past_the_frontal_detector_is_found_by_blazeface() -> None:
    """A source photo (or a first frame) turned 45°: HOG finds no face, so the subject could not be built and
    the session not observed; BlazeFace finds it, at HOG's box size, and the mesh reads the turn."""
    from liveness.detect import detect_faces, detect_faces_blaze, find_faces
    from liveness.geometry import head_pose_from_mesh
    from liveness.mesh import mesh_landmarks
    from simulators.capture.heldout_plan import POSED_CAMERA, posed_image
    from simulators.capture.subject import build_subject

    frontal = photo("obama_1.jpg")
    turned = posed_image(str(fixture_path("faces", "alex_lacamoire_2.png")), 45.0)
    assert turned.shape[:2] == POSED_CAMERA.size[::-1]
    assert not detect_faces(turned, upsample=1)
    boxes = find_faces(turned, upsample=1)
    assert len(boxes) == 1
    hog, blaze = detect_faces(frontal, upsample=1)[0], detect_faces_blaze(frontal)[0]
    assert abs(blaze.width / hog.width - 1.0) <= 0.2  # sized as HOG's: the mesh crop and size checks hold
    assert max(abs(a - b) for a, b in zip(hog.center, blaze.center, strict=True)) <= 0.15 * hog.width
    mesh = mesh_landmarks(turned, boxes[0])
    assert mesh is not None and 30.0 <= abs(head_pose_from_mesh(mesh).yaw) <= 55.0  # read 38.6°
    assert build_subject(turned).face_width > 0


@pytest.mark.parametrize("name", ["p01_4.jpg", "p07_2.jpg"])
def test_a_tightly_cropped_photo_renders_one_face(name: str) -> None:
    """The simulator frames the photo larger than it is: its border is repeated, never mirrored (a mirrored
    border put two mirror copies of the face beside it, and genuine sessions failed as multiple_faces)."""
    from simulators.capture.scenes import CAMERAS
    from simulators.capture.subject import build_subject

    for camera in CAMERAS.values():
        texture = build_subject(_more(name), camera).texture
        # These photos are narrower than the frame: its outer columns repeat the photo's edge (the mirrored
        # border differed by 156–241 grey levels there, holding a mirror image of the face).
        assert float(np.abs(texture[:, :8] - texture[:, :1]).max()) == 0.0
        assert float(np.abs(texture[:, -8:] - texture[:, -1:]).max()) == 0.0


def _far(frame: RGBImage) -> RGBImage:
    """The person three times farther from the camera: the picture shrunk to a third, in the frame's middle."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (w // 3, h // 3), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(frame, int(frame.mean()))
    canvas[h // 3 : h // 3 + small.shape[0], w // 3 : w // 3 + small.shape[1]] = small
    return canvas


@pytest.mark.parametrize(
    ("change", "hint"),
    [(_far, "face_too_small"), (lambda f: (f.astype(np.float32) * 0.2).astype(np.uint8), "too_dark")],
    ids=["far", "dark"],
)
def test_a_capture_too_far_or_too_dark_says_so_first(change: Any, hint: str) -> None:
    """Faces are found that far and that dark, so presence passes; the checks then fail on what the face
    shows too little of, and the verdict names what to change first (the hosted page says it alone)."""
    live = decode_video(rendered("live", 21))
    genuine = decide(live, script_for(21), _reference(), now_ms=1_000)
    assert genuine.passed and genuine.reasons == [], genuine.reasons  # the same session, as it was: no hint
    changed = from_arrays([change(f) for f in live.frames], live.timestamps_ms)
    verdict = decide(changed, script_for(21), _reference(), now_ms=1_000)
    assert not verdict.passed and verdict.reasons[0] == hint, verdict.reasons
    assert len(verdict.reasons) > 1  # only ever said beside the checks that failed
