"""Colour-flash check (the face reflects the flashes shown now) and a texture cue (reported, never gating).

Flash: per frame, the face's colour relative to the background, in logs, o(t) = log(face) − log(bg) per
channel, so the room's light and the camera's white balance cancel. A screen flash of colour c adds
about g·c to the face near the screen and almost nothing to the far background, so o(t) moves with the
expected colour e(t) per channel with a positive gain. Slow changes from the head turns (the face's
shading changes as it rotates) are removed first by regressing o and e on time and the head angles.
What is left must be explained by the flashes (R² over all channels, best over a few latencies). A
recording of another session carries *its* colours, which the new random sequence does not explain;
a print reflects like skin, so this check alone does not stop prints (FACE.md).

Flash timing: the same o(t), differenced frame to frame, must step at the script's colour-change times
rather than between them, whatever the colours (an AUC). The flash lengths are drawn apart from the
colours, so a recording made for another script fails it on its own draw: with ``colour_flash`` and
``checks_motion.check_reaction`` it is one of three layers an in-order injection must fail two of.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.capture import Capture
from liveness.observe import BACKGROUND_COLUMNS, Observation
from liveness.script import Script
from liveness.verdict import CheckResult, LivenessSettings


def _residualise(y: NDArray[np.float64], nuisance: NDArray[np.float64]) -> NDArray[np.float64]:
    coef, *_ = np.linalg.lstsq(nuisance, y, rcond=None)
    return np.asarray(y - nuisance @ coef, dtype=np.float64)


def background_columns(observations: Sequence[Observation]) -> NDArray[np.bool_]:
    """Columns (of the 64-wide copy) that no face comes within 1.3 face widths of, in any frame."""
    keep = np.ones(BACKGROUND_COLUMNS, dtype=bool)
    cols = np.arange(BACKGROUND_COLUMNS) + 0.5
    for o in observations:
        if o.box is None or o.mesh is None:
            continue
        width = float(o.mesh[:, 0].max() - o.mesh[:, 0].min())
        frame_width = o.frame_width or 1
        scale = BACKGROUND_COLUMNS / frame_width
        keep &= np.abs(cols - o.box.center[0] * scale) > 1.3 * width * scale
    return keep


Signal = tuple[list[Observation], NDArray[np.float64], NDArray[np.float64]]


def face_signal(observations: Sequence[Observation]) -> Signal:
    """(frames used, o(t) per frame and channel, the nuisance regressors per frame: 1, time, head angles)."""
    keep = background_columns(observations)
    used = []
    rows = []
    nuisance = []
    for o in observations:
        if o.face_rgb is None or o.columns_rgb is None:
            continue
        # With no background in view (the face fills the frame) the face's own colour is used.
        background = o.columns_rgb[keep].mean(axis=0) if keep.any() else np.zeros(3)
        used.append(o)
        rows.append(np.log(o.face_rgb + 1.0) - np.log(background + 1.0))
        yaw, pitch = o.yaw or 0.0, o.pitch or 0.0
        nuisance.append([1.0, o.t_ms / 1000.0, yaw / 30.0, abs(yaw) / 30.0, pitch / 30.0])
    return used, np.asarray(rows, dtype=np.float64).reshape(-1, 3), np.asarray(nuisance).reshape(-1, 5)


def flash_fit(signal_of: Signal, script: Script, lag_ms: float) -> tuple[float, NDArray[np.float64], int]:
    """(R², per-channel gains, frames used) of the face-vs-background colour (:func:`face_signal`) against the
    flashes."""
    used, signal, regressors = signal_of
    rows = []
    expected = []
    nuisance = []
    for o, row, regressor in zip(used, signal, regressors, strict=True):
        colour = script.colour_at(o.t_ms - lag_ms)
        if colour is None:
            continue
        rows.append(row)
        expected.append(np.asarray(colour, dtype=np.float64) / 255.0)
        nuisance.append(regressor)
    n = len(rows)
    if n < 8:
        return 0.0, np.zeros(3), n
    obs = _residualise(np.asarray(rows), np.asarray(nuisance))
    exp = _residualise(np.asarray(expected), np.asarray(nuisance))
    gains = np.zeros(3)
    residual = 0.0
    total = float(np.sum(obs**2))
    for c in range(3):
        denom = float(exp[:, c] @ exp[:, c])
        # A reflection only adds light: a negative gain explains nothing.
        gains[c] = max(0.0, float(obs[:, c] @ exp[:, c]) / denom) if denom > 1e-9 else 0.0
        residual += float(np.sum((obs[:, c] - gains[c] * exp[:, c]) ** 2))
    r2 = 1.0 - residual / total if total > 1e-12 else 0.0
    return r2, gains, n


def check_flash(
    observations: Sequence[Observation], script: Script, settings: LivenessSettings, *, signal: Signal | None = None
) -> CheckResult:
    """``signal``: :func:`face_signal` of ``observations``, when the caller already has it (flash_timing reads it too)."""
    signal = signal if signal is not None else face_signal(observations)
    best = max(((*flash_fit(signal, script, lag), lag) for lag in settings.flash_lags_ms), key=lambda r: r[0])
    r2, gains, n, lag = best
    gain = float(np.mean(gains))
    # Few frames fit anything: a short capture cannot show the sequence (chance R² grows as n shrinks).
    passed = r2 >= settings.flash_min_r2 and gain >= settings.flash_min_gain and n >= settings.flash_min_frames
    detail = (
        f"flashes explain {r2 * 100:.0f} % of the face colour change over {n} frames (latency {lag:.0f} ms), "
        f"reflection gain {gain:.3f}; need ≥ {settings.flash_min_r2 * 100:.0f} %, ≥ {settings.flash_min_gain}, "
        f"≥ {settings.flash_min_frames} frames"
    )
    return CheckResult("colour_flash", passed, r2, detail)


def change_frames(times: NDArray[np.float64], script: Script, lag_ms: float) -> NDArray[np.bool_]:
    """For each pair of consecutive frames, whether the screen changed colour between them (``lag_ms`` earlier)."""
    changes = np.asarray([f.start_ms for f in script.flashes[1:]], dtype=np.float64) + lag_ms
    if len(times) < 2 or not len(changes):
        return np.zeros(max(0, len(times) - 1), dtype=bool)
    # A change at τ shows between frames k−1 and k when t[k−1] < τ ≤ t[k].
    index = np.searchsorted(times, changes, side="left")
    pairs = np.zeros(len(times) - 1, dtype=bool)
    inside = (index >= 1) & (index < len(times))
    pairs[index[inside] - 1] = True
    return pairs


def flash_timing_score(
    steps: NDArray[np.float64], times: NDArray[np.float64], script: Script, lag_ms: float
) -> tuple[float, int]:
    """(AUC, changes seen): how surely a frame pair the screen changed colour in shows a larger step of the face's
    colour than a pair with no change near it (1 = always, 0.5 = chance), whatever the colours."""
    changed = change_frames(times, script, lag_ms)
    near = changed.copy()  # a change may blur into the pair either side of it (exposure, rolling shutter)
    near[1:] |= changed[:-1]
    near[:-1] |= changed[1:]
    positive, negative = steps[changed], steps[~near]
    if not len(positive) or not len(negative):
        return 0.0, len(positive)
    # Mann–Whitney U over all (change, no-change) pairs; ties count half.
    wins = (positive[:, None] > negative[None, :]).sum() + 0.5 * (positive[:, None] == negative[None, :]).sum()
    return float(wins) / (len(positive) * len(negative)), len(positive)


def check_flash_timing(
    observations: Sequence[Observation], script: Script, settings: LivenessSettings, *, signal: Signal | None = None
) -> CheckResult:
    """The face's colour jumps when the screen changes colour, at the script's change times, whichever colours
    they are: a second check of the flashes that does not rest on their colours (a recording made for another
    script changes at that script's times; ``colour_flash`` judges the colours). The step per frame pair is the
    change of o(t) (as in ``colour_flash``), less what the head's motion between the frames explains."""
    used, colours, nuisance = signal if signal is not None else face_signal(observations)
    if len(used) < settings.flash_min_frames:
        return CheckResult("flash_timing", False, 0.0, f"{len(used)} frames with a face colour: too few to judge")
    times = np.asarray([o.t_ms for o in used], dtype=np.float64)
    motion = np.diff(nuisance[:, 2:], axis=0)
    steps = np.linalg.norm(
        _residualise(np.diff(colours, axis=0), np.column_stack([np.ones(len(motion)), motion])), axis=1
    )
    auc, changes, lag = max(
        ((*flash_timing_score(steps, times, script, lag), lag) for lag in settings.flash_lags_ms), key=lambda r: r[0]
    )
    need = settings.flash_timing_min_auc
    detail = (
        f"the face's colour jumped at the screen's {changes} colour changes more than between them in "
        f"{auc * 100:.0f} % of comparisons (latency {lag:.0f} ms); need ≥ {need * 100:.0f} %"
    )
    return CheckResult("flash_timing", auc >= need, auc, detail)


def high_frequency_ratio(face: NDArray[np.uint8]) -> float:
    """Share of the face crop's spectral energy above a quarter of the sampling rate (moiré, halftone)."""
    grey = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grey = np.asarray(cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA), dtype=np.float32)
    grey -= grey.mean()
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(grey * np.outer(np.hanning(64), np.hanning(64))))) ** 2
    fy, fx = np.mgrid[-32:32, -32:32] / 64.0
    radius = np.hypot(fx, fy)
    total = float(spectrum[radius > 0.02].sum())
    return float(spectrum[radius > 0.25].sum()) / total if total > 0 else 0.0


def check_texture(capture: Capture, observations: Sequence[Observation], settings: LivenessSettings) -> CheckResult:
    """A weak cue only (FACE.md: texture methods fail across media); never decides."""
    ratios = []
    for o in observations[:: max(1, len(observations) // 5)]:
        if o.box is None:
            continue
        frame = capture.frames[o.index]
        b = o.box
        crop = np.ascontiguousarray(frame[max(0, b.top) : b.bottom, max(0, b.left) : b.right])
        if crop.size:
            ratios.append(high_frequency_ratio(crop))
    score = float(np.median(ratios)) if ratios else 0.0
    return CheckResult(
        "texture",
        score <= settings.texture_max_ratio,
        score,
        f"high-frequency energy share {score:.3f} (weak cue, not gating)",
        gating=False,
    )
