"""Frame integrity, face presence and one identity throughout the capture.

Integrity reads the thumbnails of *every* decoded frame: a frame repeated (a video re-timed to a higher
frame rate, a frozen virtual camera) is an exact copy, whereas a real sensor's noise makes consecutive
frames differ. Timing must cover the script without long gaps. Identity encodes a few frontal frames
spread over the capture, plus both sides of any sudden change of the face (a cut), and requires every
pair to be the same person (a cut to another person must fail, FACE.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from liveness.capture import Capture
from liveness.detect import Encoding, face_distance
from liveness.observe import FACE_OVAL, Observation, encode_frames
from liveness.script import Script
from liveness.verdict import CheckResult, LivenessSettings


def check_frames(capture: Capture, script: Script, settings: LivenessSettings) -> CheckResult:
    problems = []
    n = len(capture.frames)
    if n < settings.min_frames:
        problems.append(f"too few frames ({n} < {settings.min_frames})")
    coverage = capture.duration_ms / script.duration_ms if script.duration_ms else 0.0
    if capture.duration_ms > script.duration_ms + settings.max_overrun_ms:
        problems.append(f"capture runs {capture.duration_ms:.0f} ms, longer than the script's {script.duration_ms} ms")
    if coverage < settings.min_script_coverage:
        problems.append(f"capture covers {coverage * 100:.0f} % of the script's {script.duration_ms} ms")
    times = capture.thumb_times_ms
    gaps = np.diff(times) if len(times) > 1 else np.zeros(0)
    if gaps.size and float(gaps.max()) > settings.max_gap_ms:
        problems.append(f"a {float(gaps.max()):.0f} ms gap between frames")
    diffs = [float(np.mean(np.abs(a - b))) for a, b in itertools.pairwise(capture.thumbs)]
    repeats = [d < settings.duplicate_level for d in diffs]
    share = sum(repeats) / len(repeats) if repeats else 0.0
    if share > settings.max_duplicate_share:
        problems.append(f"{share * 100:.0f} % of frames repeat the previous one (re-timed or frozen source)")
    longest = run = 0.0
    for repeated, gap in zip(repeats, gaps, strict=False):
        run = run + float(gap) if repeated else 0.0
        longest = max(longest, run)
    if longest > settings.max_frozen_ms:
        problems.append(f"picture frozen for {longest:.0f} ms")
    detail = "; ".join(problems) or f"{n} frames over {capture.duration_ms:.0f} ms, {share * 100:.0f} % repeated"
    return CheckResult("frame_integrity", not problems, 1.0 - share, detail)


def check_presence(observations: Sequence[Observation], settings: LivenessSettings) -> CheckResult:
    """Exactly one face, in (nearly) every frame."""
    n = len(observations)
    if n == 0:
        return CheckResult("face_presence", False, 0.0, "no frames")
    single = sum(1 for o in observations if o.face_count == 1 and o.has_face) / n
    multi = sum(1 for o in observations if o.face_count > 1) / n
    none = sum(1 for o in observations if o.face_count == 0) / n
    passed = single >= settings.min_face_share and multi <= settings.max_multi_face_share
    detail = f"one face in {single * 100:.0f} % of frames, none in {none * 100:.0f} %, several in {multi * 100:.0f} %"
    return CheckResult("face_presence", passed, single, detail)


def presence_reason(observations: Sequence[Observation], settings: LivenessSettings) -> str:
    """The named failure for a presence problem: 'multiple_faces' or 'no_face'."""
    n = max(len(observations), 1)
    multi = sum(1 for o in observations if o.face_count > 1) / n
    return "multiple_faces" if multi > settings.max_multi_face_share else "no_face"


def condition_hint(observations: Sequence[Observation], settings: LivenessSettings) -> str | None:
    """What a person could change about a capture that failed: ``face_too_small`` (the eyes closer together,
    for the frame's width, than in genuine captures: too far from the camera) or ``too_dark`` (the
    face's median luma that low: a dark room, the light behind them). Only ever said of a capture that failed
    on its checks: it refuses nothing by itself (faces are found down to ~40 px wide and at 5 % brightness,
    so presence alone never says either)."""
    faces = [o for o in observations if o.has_face]
    if not faces:
        return None
    eyes = [o.inter_ocular_px / o.frame_width for o in faces if o.inter_ocular_px is not None and o.frame_width]
    if eyes and float(np.median(eyes)) < settings.small_face_eye_share:
        return "face_too_small"
    rgb = [o.face_rgb for o in faces if o.face_rgb is not None]
    if rgb:
        luma = float(np.median([0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] for c in rgb]))
        if luma < settings.dark_face_luma:
            return "too_dark"
    return None


def identity_frames(observations: Sequence[Observation], settings: LivenessSettings) -> list[int]:
    """Positions to encode: the most frontal frame of each of ``identity_frames`` equal time slices, and
    both sides of every sudden change of the face crop or box (a cut)."""
    faces = [i for i, o in enumerate(observations) if o.has_face]
    if not faces:
        return []
    chosen: set[int] = set()
    k = max(1, settings.identity_frames)
    for part in np.array_split(np.asarray(faces), k):
        if part.size:
            chosen.add(int(min(part, key=lambda i: abs(observations[int(i)].yaw or 0.0))))
    cuts: list[tuple[float, int, int]] = []
    for a, b in itertools.pairwise(faces):
        oa, ob = observations[a], observations[b]
        if oa.crop is None or ob.crop is None or oa.box is None or ob.box is None:
            continue
        correlation = float(np.sum(oa.crop * ob.crop))
        jump = np.hypot(oa.box.center[0] - ob.box.center[0], oa.box.center[1] - ob.box.center[1]) / max(oa.box.width, 1)
        resize = max(oa.box.width, ob.box.width) / max(min(oa.box.width, ob.box.width), 1)
        if correlation < settings.cut_min_correlation or jump > settings.cut_max_jump or resize > 1.5:
            cuts.append((correlation - jump, a, b))
    # The most abrupt changes first; a bounded number of them, so cost stays bounded.
    for _, a, b in sorted(cuts)[: max(0, settings.max_cut_encodings // 2)]:
        chosen.update((a, b))
    return sorted(chosen)


def check_identity(
    capture: Capture, observations: Sequence[Observation], settings: LivenessSettings
) -> tuple[CheckResult, dict[int, Encoding]]:
    """(result, the encodings computed) — the encodings are reused for the face match."""
    indices = identity_frames(observations, settings)
    encodings = encode_frames(capture, observations, indices)
    if len(encodings) < 2:
        return CheckResult("one_identity", False, 0.0, f"only {len(encodings)} frame(s) could be encoded"), encodings
    worst = 0.0
    pair = (0.0, 0.0)
    for (i, a), (j, b) in itertools.combinations(encodings.items(), 2):
        d = face_distance(a, b)
        if d > worst:
            worst, pair = d, (observations[i].t_ms, observations[j].t_ms)
    passed = worst <= settings.identity_max_distance
    detail = (
        f"largest distance {worst:.3f} between frames at {pair[0]:.0f} and {pair[1]:.0f} ms over {len(encodings)} "
        f"frames; same person ≤ {settings.identity_max_distance}"
    )
    return CheckResult("one_identity", passed, worst, detail), encodings


def face_inside_share(o: Observation) -> float:
    """Share of the face oval's mesh points inside the frame (the mesh extrapolates a face cut by the
    frame's edge, so the points past the edge say how much of the face is missing)."""
    if o.mesh is None:
        return 0.0
    oval = o.mesh[list(FACE_OVAL), :2]
    w, h = o.frame_width or 1, o.frame_height or 1
    inside = (oval[:, 0] >= 0) & (oval[:, 0] < w) & (oval[:, 1] >= 0) & (oval[:, 1] < h)
    return float(inside.mean())


def check_whole_face(observations: Sequence[Observation], settings: LivenessSettings) -> CheckResult:
    """The whole face is in view: a face half outside the frame hides the cheek whose parallax and
    reflection the other checks read, and cannot be matched fairly (reason ``partial_face``)."""
    faces = [o for o in observations if o.has_face]
    if not faces:
        return CheckResult("whole_face", False, 0.0, "no face observed")
    whole = sum(face_inside_share(o) >= settings.min_face_inside for o in faces) / len(faces)
    detail = (
        f"the whole face is in view in {whole * 100:.0f} % of the face frames; need "
        f"≥ {settings.min_whole_face_share * 100:.0f} % with ≥ {settings.min_face_inside * 100:.0f} % of the face oval inside"
    )
    return CheckResult("whole_face", whole >= settings.min_whole_face_share, whole, detail)
