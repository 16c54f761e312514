"""Checks on head and eye motion: the script's turns in order and in time, 3-D parallax in the turns,
and the blink judged against the person's own open-eye baseline (FACE.md, "Presentation-attack detection")."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import cv2
import numpy as np

from liveness.geometry import RIGID_POINTS
from liveness.observe import Observation
from liveness.script import Action, Script
from liveness.verdict import CheckResult, LivenessSettings

# A blink's eyes are most closed ~100-200 ms after it starts and open again by ~300-400 ms (a spontaneous
# blink lasts ~100-400 ms: Caffier, Erdmann and Ullsperger 2003, Eur J Appl Physiol 89:319).
_BLINK_MS = 300.0

# The planarity test's landmarks: the rigid part of the face, oval included (its threshold was calibrated on
# these, as the pose fit is).
PLANARITY_POINTS = RIGID_POINTS
FRONTAL_DEG = 8.0


def _faces(observations: Sequence[Observation]) -> list[Observation]:
    return [o for o in observations if o.has_face and o.yaw is not None]


def baseline_pose(observations: Sequence[Observation], script: Script) -> tuple[float, float]:
    """(yaw, pitch) the person holds when not turning: the median over the lead-in, else over all frames."""
    faces = _faces(observations)
    first = script.actions[0].start_ms
    lead = [o for o in faces if o.t_ms < first] or faces
    yaw = statistics.median(o.yaw for o in lead if o.yaw is not None)
    pitch = statistics.median((o.pitch or 0.0) for o in lead)
    return yaw, pitch


def _signed(o: Observation, kind: str, base: tuple[float, float]) -> float:
    """How far ``o`` has moved in the direction ``kind`` asks for (degrees, negative = the other way)."""
    if kind == "turn_left":
        return (o.yaw or 0.0) - base[0]
    if kind == "turn_right":
        return base[0] - (o.yaw or 0.0)
    return (o.pitch or 0.0) - base[1]


def _in_window(o: Observation, action: Action, tolerance: float) -> bool:
    return action.start_ms - tolerance <= o.t_ms <= action.end_ms + tolerance


def _blink_end(action: Action, settings: LivenessSettings) -> float:
    """Until when a blink asked by ``action`` may show: as late as `check_reaction` lets a reaction start
    (``reaction_max_ms`` after the cue) plus a blink's own length, for a slow reaction that the timing check
    accepts must not be missed by the blink check."""
    return max(action.end_ms + settings.turn_tolerance_ms, action.start_ms + settings.reaction_max_ms + _BLINK_MS)


def _in_blink_window(o: Observation, action: Action, settings: LivenessSettings) -> bool:
    return action.start_ms - settings.turn_tolerance_ms <= o.t_ms <= _blink_end(action, settings)


def turn_peaks(
    observations: Sequence[Observation], script: Script, settings: LivenessSettings
) -> list[tuple[Action, Observation | None, float]]:
    """For each head action: the frame in its window that moved furthest the asked way, and how far."""
    faces = _faces(observations)
    if not faces:
        return [(a, None, 0.0) for a in script.actions if a.kind != "blink"]
    base = baseline_pose(observations, script)
    out: list[tuple[Action, Observation | None, float]] = []
    for action in script.actions:
        if action.kind == "blink":
            continue
        window = [o for o in faces if _in_window(o, action, settings.turn_tolerance_ms)]
        if not window:
            out.append((action, None, 0.0))
            continue
        best = max(window, key=lambda o: _signed(o, action.kind, base))
        out.append((action, best, _signed(best, action.kind, base)))
    return out


def check_script(observations: Sequence[Observation], script: Script, settings: LivenessSettings) -> CheckResult:
    """Every head action reached its angle inside its own window, so the order is the script's too.

    Score: the smallest share of the asked angle read over the actions (0 when an action's window has no
    face or the peaks come out of order), passing at ``settings.turn_min_share``. The asked angle is what
    the person is told; the reading that must be reached is a calibrated share of it (held out by person,
    BENCHMARKS.md), because the Face Mesh reads a turned head short of its true angle."""
    peaks = turn_peaks(observations, script, settings)
    parts = []
    ratios = []
    last_t = -1.0
    for action, best, amount in peaks:
        need = script.min_up_deg if action.kind == "turn_up" else script.min_turn_deg
        if best is None:
            ratios.append(0.0)
            parts.append(f"{action.kind}: no face in its window")
            continue
        ratios.append(amount / need if best.t_ms > last_t else 0.0)
        last_t = best.t_ms
        parts.append(
            f"{action.kind} {amount:+.1f}° at {best.t_ms:.0f} ms (window {action.start_ms}–{action.end_ms}, "
            f"asked {need:.0f}°, need {settings.turn_min_share * need:.1f}°)"
        )
    score = min(ratios) if ratios else 0.0
    return CheckResult(
        "script_followed", bool(peaks) and score >= settings.turn_min_share, score, "; ".join(parts) or "no head action"
    )


def planarity_residual(frontal: Observation, turned: Observation) -> float:
    """RMS distance between the turned frame's landmarks and the best single homography of the frontal
    frame's, over the inter-ocular distance: ~0.04 for a flat print or screen, ≥ 0.07 for a face at 15°."""
    assert frontal.mesh is not None and turned.mesh is not None
    src = frontal.mesh[list(PLANARITY_POINTS), :2].astype(np.float64)
    dst = turned.mesh[list(PLANARITY_POINTS), :2].astype(np.float64)
    homography, _ = cv2.findHomography(src, dst, 0)
    if homography is None:
        return 0.0
    mapped = cv2.perspectiveTransform(src.reshape(-1, 1, 2), homography).reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum((mapped - dst) ** 2, axis=1))))
    iod = frontal.inter_ocular_px or float(
        np.linalg.norm(src[PLANARITY_POINTS.index(263)] - src[PLANARITY_POINTS.index(33)])
    )
    return rms / iod if iod > 0 else 0.0


def check_planarity(observations: Sequence[Observation], script: Script, settings: LivenessSettings) -> CheckResult:
    """The turns must show depth: landmark motion that no single homography explains.

    With a left and a right turn in the script, the two peak frames (~40–50° apart) are compared: live
    faces measured 0.26–0.64 on the simulator, flat or bent prints ≤ 0.14. With one turn only, each turn
    is compared with the nearest frontal frame (FACE.md: flat ≈ 0.038, live 0.070 at 15°)."""
    faces = _faces(observations)
    peaks = turn_peaks(observations, script, settings)
    if not faces or not peaks:
        return CheckResult("planarity", False, 0.0, "no turned face to measure")
    by_kind = {action.kind: turned for action, turned, _ in peaks}
    left, right = by_kind.get("turn_left"), by_kind.get("turn_right")
    if left is not None and right is not None:
        value = planarity_residual(left, right)
        detail = f"left/right turn frames at {left.t_ms:.0f}/{right.t_ms:.0f} ms: {value:.3f}; need ≥ {settings.planarity_min}"
        return CheckResult("planarity", value >= settings.planarity_min, value, detail)
    if "turn_left" in by_kind and "turn_right" in by_kind:
        return CheckResult("planarity", False, 0.0, "a turn was not observed")
    base = baseline_pose(observations, script)
    residuals = []
    parts = []
    for action, turned, _ in peaks:
        if turned is None:
            residuals.append(0.0)
            parts.append(f"{action.kind}: no turned frame")
            continue
        # The most frontal frame nearest in time to the turn.
        frontal = min(faces, key=lambda o: (abs((o.yaw or 0.0) - base[0]) > FRONTAL_DEG, abs(o.t_ms - turned.t_ms)))
        value = planarity_residual(frontal, turned)
        residuals.append(value)
        parts.append(f"{action.kind}: {value:.3f} (frames at {frontal.t_ms:.0f}/{turned.t_ms:.0f} ms)")
    score = min(residuals)
    need = settings.planarity_min_single
    return CheckResult("planarity", score >= need, score, "; ".join(parts) + f"; need ≥ {need}")


def check_blink(observations: Sequence[Observation], script: Script, settings: LivenessSettings) -> CheckResult:
    """The eyes close in the blink window (relative to this person's open eyes) and open again."""
    blinks = [a for a in script.actions if a.kind == "blink"]
    faces = [o for o in _faces(observations) if o.eye_openness is not None]
    if not blinks:
        return CheckResult("blink", True, 1.0, "no blink asked")
    if not faces:
        return CheckResult("blink", False, 0.0, "no eyes observed")
    base_pose = baseline_pose(observations, script)
    results = []
    parts = []
    for action in blinks:
        outside = [
            o.eye_openness
            for o in faces
            if not _in_blink_window(o, action, settings)
            and abs((o.yaw or 0.0) - base_pose[0]) < 12.0
            and o.eye_openness is not None
        ]
        baseline = statistics.median(outside) if outside else statistics.median(o.eye_openness or 0.0 for o in faces)
        window = [o for o in faces if _in_blink_window(o, action, settings)]
        if not window or baseline <= 0:
            results.append(0.0)
            parts.append("no frame in the blink window")
            continue
        low = min(window, key=lambda o: o.eye_openness or 0.0)
        ratio = (low.eye_openness or 0.0) / baseline
        after = [o.eye_openness or 0.0 for o in faces if o.t_ms > low.t_ms]
        reopened = bool(after) and max(after) >= settings.blink_reopen * baseline
        drop = 1.0 - ratio
        if reopened:
            results.append(drop)
            parts.append(f"openness fell to {ratio:.2f}× the open-eye baseline {baseline:.3f} at {low.t_ms:.0f} ms")
        elif faces[-1].t_ms - low.t_ms < _BLINK_MS:
            # A slow reaction to a late cue: the capture ended before the eyes could reopen, which is no evidence
            # against the blink. The closure must then hold over two frames (the low and its closer neighbour),
            # so one misread last frame is not taken for it.
            at = faces.index(low)
            neighbours = [o.eye_openness or 0.0 for o in faces[max(0, at - 1) : at + 2] if o is not low]
            held = 1.0 - max(low.eye_openness or 0.0, min(neighbours)) / baseline if neighbours else 0.0
            results.append(held)
            parts.append(
                f"openness fell to {ratio:.2f}× the open-eye baseline {baseline:.3f} at {low.t_ms:.0f} ms, "
                f"the capture's end {faces[-1].t_ms - low.t_ms:.0f} ms later (closure over two frames: {held:.2f})"
            )
        else:
            results.append(0.0)
            parts.append(
                f"openness fell to {ratio:.2f}× the open-eye baseline {baseline:.3f} at {low.t_ms:.0f} ms, "
                "eyes did not reopen"
            )
    score = min(results)
    return CheckResult(
        "blink", score >= settings.blink_drop, score, "; ".join(parts) + f"; need a drop ≥ {settings.blink_drop}"
    )


def _onset(span: Sequence[Observation], action: Action, base: tuple[float, float], level: float) -> float | None:
    """When (ms after the cue) the turn that reaches the furthest point of ``span`` got past ``level``: the
    start of the unbroken run of frames past it that holds the peak, so a pose misread for a frame or two
    before the turn (the mesh's yaw wanders a few degrees on a still head) is not taken for the reaction."""
    if not span:
        return None
    moved = [_signed(o, action.kind, base) for o in span]
    peak = max(range(len(span)), key=moved.__getitem__)
    if moved[peak] < level:
        return None
    first = peak
    while first > 0 and moved[first - 1] >= level:
        first -= 1
    return span[first].t_ms - action.start_ms


def reaction_latencies(
    observations: Sequence[Observation], script: Script, settings: LivenessSettings
) -> list[tuple[Action, float | None]]:
    """For each action, when (ms after its window opened) the person reacted, searching from the previous
    action's end: a turn when the head moved a share of the asked angle the asked way (:func:`_onset`), a
    blink when the eyes were most closed. None if the head never moved."""
    faces = _faces(observations)
    if not faces:
        return [(a, None) for a in script.actions]
    base = baseline_pose(observations, script)
    out: list[tuple[Action, float | None]] = []
    previous_end = 0.0
    for action in script.actions:
        end = _blink_end(action, settings) if action.kind == "blink" else action.end_ms + settings.turn_tolerance_ms
        span = [o for o in faces if previous_end <= o.t_ms <= end]
        previous_end = float(action.end_ms)
        if action.kind == "blink":
            # Around its own cue, not from the recording's start (a person may still hold the previous turn:
            # the eyes are read turned too).
            near = action.start_ms - settings.turn_tolerance_ms
            eyes = [o for o in span if o.eye_openness is not None and o.t_ms >= near]
            low = min(eyes, key=lambda o: o.eye_openness or 0.0) if eyes else None
            out.append((action, None if low is None else low.t_ms - action.start_ms))
            continue
        need = script.min_up_deg if action.kind == "turn_up" else script.min_turn_deg
        out.append((action, _onset(span, action, base, settings.reaction_onset_share * need)))
    return out


def check_reaction(observations: Sequence[Observation], script: Script, settings: LivenessSettings) -> CheckResult:
    """Every action starts after its cue, within a human reaction time, and the person's reaction times
    agree with each other: a recording made for another script (even one with the same order of
    actions) moves on its own timeline (FACE.md: injected video). Score: the smallest margin (ms) to the
    allowed latencies and spread; negative fails."""
    latencies = reaction_latencies(observations, script, settings)
    low, high = settings.reaction_min_ms, settings.reaction_max_ms
    margins = []
    parts = []
    seen: list[float] = []
    for action, latency in latencies:
        if latency is None:
            margins.append(-1000.0)
            parts.append(f"{action.kind}: no reaction after its cue")
            continue
        seen.append(latency)
        margins.append(min(latency - low, high - latency))
        parts.append(f"{action.kind} {latency:+.0f} ms after its cue")
    if len(seen) >= 2:
        spread = max(seen) - min(seen)
        margins.append(settings.reaction_max_spread_ms - spread)
        parts.append(f"spread {spread:.0f} ms")
    score = min(margins) if margins else -1000.0
    detail = (
        "; ".join(parts) + f"; allowed {low:+.0f}…{high:+.0f} ms, spread ≤ {settings.reaction_max_spread_ms:.0f} ms"
    )
    return CheckResult("reaction_timing", bool(margins) and score >= 0.0, score, detail)
