"""Content fingerprint of a capture, so the same capture (or an edited copy) never passes twice (R-12.3).

Version 2 keys on what binds a capture to its script's nonce: the face's response to the script's random
colour flashes. Every 100 ms slot holds the face's colour relative to the background (log ratio per
channel, as the flash check reads it), high-passed so the room, the person and the slow shading of the
head turns cancel. What remains follows the flash sequence the capture was *recorded under*: a copy of a
stored capture — re-encoded, re-timed (shifted or up to ±10 % faster or slower), cropped or mirrored —
still carries the old sequence and correlates near 1 with the stored print, while an independent session
of the same person, recorded under its own random sequence (≥ 20 bits, ``liveness.script.entropy_bits``),
correlates only by chance. Version 1 followed head motion and the whole frame, so two genuine sessions of
one person with the same order of actions collided (0.56–0.92 against a 0.8 limit).

Chance is not small: a 4 s script holds ~8 flashes of 6 colours, and the best of 105 alignments of two
such responses reached 0.68 over 1,303 independent same-person pairs (the turns' shading, which the
high-pass cannot fully remove, adds to it; at 10 fps fewer samples make it larger still). So a print also
records ``fit``: how well the capture's response follows *its own* script's flashes (correlation with the
flash colours its nonce drew, best latency, per-channel gains). A capture is taken for a copy only if it
resembles a stored one at :data:`SEEN_THRESHOLD` **and** resembles it more than it follows its own script
(:func:`collides`): a genuine session is bound to its nonce and follows it (fit 0.55–0.99 on held-out
sessions), a copy carries the old flashes and follows the new script only by chance (0.04–0.39).

The service stores :meth:`Fingerprint.to_json` of every capture and refuses a new capture that
:func:`collides` with a stored one (:func:`seen_before`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liveness.capture import Capture
from liveness.errors import CaptureUndecodable
from liveness.observe import Observation
from liveness.script import Script

VERSION = 2
SLOT_MS = 100.0
MAX_SHIFT_SLOTS = 10  # a copy trimmed or delayed by up to a second still lines up
TIME_SCALES = (0.9, 0.95, 1.0, 1.05, 1.1)
MIN_OVERLAP_SLOTS = 12
HIGH_PASS_SLOTS = 7  # a moving average over 0.7 s is removed: flashes change faster, head shading slower
# Measured (BENCHMARKS.md, issue 13 sessions 4 and 6): edited copies ≥ 0.89, independent sessions of the same
# person ≤ 0.68; the limit sits about midway (it was 0.7, a margin of 0.02 over the worst pair).
SEEN_THRESHOLD = 0.8
FIT_LAGS_MS = (0.0, 50.0, 100.0, 150.0, 200.0)  # screen-to-camera latencies, as the flash check tries
_SCALE = 10_000.0  # stored as integers


@dataclass(frozen=True)
class Fingerprint:
    slots: tuple[tuple[int, int, int], ...]
    nonce: str = ""
    slot_ms: float = SLOT_MS
    version: int = VERSION
    fit: float = 0.0  # how well the response follows its own script's flashes (0 when no script was given)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": self.version,
                "slot_ms": self.slot_ms,
                "nonce": self.nonce,
                "fit": round(self.fit, 4),
                "slots": [list(s) for s in self.slots],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Fingerprint:
        """Parse a stored print; one of another version raises CaptureUndecodable (it cannot be compared)."""
        try:
            data = json.loads(text)
            if data["version"] != VERSION:
                raise ValueError(f"unsupported fingerprint version {data['version']!r}")
            slots = tuple((int(s[0]), int(s[1]), int(s[2])) for s in data["slots"])
            return cls(
                slots=slots,
                nonce=str(data.get("nonce", "")),
                slot_ms=float(data["slot_ms"]),
                fit=float(data.get("fit", 0.0)),  # prints stored before it was recorded: 0
            )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise CaptureUndecodable(f"malformed capture fingerprint: {exc}") from exc

    def matrix(self) -> NDArray[np.float64]:
        return np.asarray(self.slots, dtype=np.float64).reshape(-1, 3) / _SCALE


def _high_pass(series: NDArray[np.float64]) -> NDArray[np.float64]:
    kernel = np.ones(HIGH_PASS_SLOTS) / HIGH_PASS_SLOTS
    pad = HIGH_PASS_SLOTS // 2
    padded = np.pad(series, ((pad, pad), (0, 0)), mode="edge")
    smooth = np.stack([np.convolve(padded[:, c], kernel, mode="valid") for c in range(series.shape[1])], axis=1)
    return np.asarray(series - smooth, dtype=np.float64)


def own_fit(response: NDArray[np.float64], start_ms: float, script: Script) -> float:
    """Correlation of a high-passed response with the flash colours ``script`` put on screen over the same
    slots (best latency of :data:`FIT_LAGS_MS`, a non-negative gain per channel: a reflection only adds light)."""
    grid = start_ms + np.arange(len(response)) * SLOT_MS
    total = float(np.linalg.norm(response))
    if total <= 0 or len(response) < MIN_OVERLAP_SLOTS:
        return 0.0
    best = 0.0
    for lag in FIT_LAGS_MS:
        colours = np.asarray([script.colour_at(t - lag) or (0, 0, 0) for t in grid], dtype=np.float64) / 255.0
        expected = _high_pass(colours)
        norms = np.einsum("ij,ij->j", expected, expected)
        gains = np.maximum(0.0, np.einsum("ij,ij->j", response, expected) / np.maximum(norms, 1e-12))
        predicted = expected * gains
        denom = float(np.linalg.norm(predicted)) * total
        if denom > 0:
            best = max(best, float(np.sum(predicted * response)) / denom)
    return best


def compute(observations: Sequence[Observation], nonce: str = "", script: Script | None = None) -> Fingerprint:
    """The fingerprint of a judged capture from its observations (free: the flash check's own measure);
    with the ``script`` it was judged under, also its :func:`own_fit`."""
    from liveness.checks_signal import background_columns

    keep = background_columns(observations)
    times: list[float] = []
    rows: list[NDArray[np.float64]] = []
    for o in observations:
        if o.face_rgb is None or o.columns_rgb is None:
            continue
        background = o.columns_rgb[keep].mean(axis=0) if keep.any() else np.zeros(3)
        times.append(o.t_ms)
        rows.append(np.log(o.face_rgb + 1.0) - np.log(background + 1.0))
    if len(rows) < 2:
        return Fingerprint(slots=(), nonce=nonce)
    t = np.asarray(times)
    data = np.asarray(rows)
    grid = np.arange(t[0], t[-1] + 1e-6, SLOT_MS)
    sampled = np.stack([np.interp(grid, t, data[:, c]) for c in range(3)], axis=1)
    q = np.clip(np.round(_high_pass(sampled) * _SCALE), -(2**31), 2**31 - 1).astype(np.int64)
    fit = own_fit(q / _SCALE, float(t[0]), script) if script is not None else 0.0
    return Fingerprint(slots=tuple((int(r[0]), int(r[1]), int(r[2])) for r in q), nonce=nonce, fit=fit)


def of_capture(capture: Capture, script: Script | str = "", rest_until_ms: float | None = None) -> Fingerprint:
    """Observe a decoded capture and fingerprint it under ``script`` (or only a nonce) — tests and tools; the
    decision reuses its observations."""
    from liveness.observe import observe

    observations = observe(capture, rest_until_ms=rest_until_ms)
    if isinstance(script, str):
        return compute(observations, script)
    return compute(observations, script.nonce, script)


def _rescaled(m: NDArray[np.float64], scale: float) -> NDArray[np.float64]:
    n = int(len(m) * scale)
    if n < 2 or scale == 1.0:
        return m
    src = np.linspace(0, len(m) - 1, n)
    return np.stack([np.interp(src, np.arange(len(m)), m[:, c]) for c in range(m.shape[1])], axis=1)


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """The best correlation (−1..1) of the two captures' flash responses over shifts of up to ±1 s and
    time scales of ±10 %; 1.0 for two captures judged under the same nonce."""
    if a.nonce and a.nonce == b.nonce:
        return 1.0
    ma, mb0 = a.matrix(), b.matrix()
    best = 0.0
    for scale in TIME_SCALES:
        mb = _rescaled(mb0, scale)
        for shift in range(-MAX_SHIFT_SLOTS, MAX_SHIFT_SLOTS + 1):
            xa = ma[max(0, shift) :]
            xb = mb[max(0, -shift) :]
            n = min(len(xa), len(xb))
            if n < MIN_OVERLAP_SLOTS:
                continue
            va = (xa[:n] - xa[:n].mean(axis=0)).ravel()
            vb = (xb[:n] - xb[:n].mean(axis=0)).ravel()
            denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
            if denom > 0:
                best = max(best, float(va @ vb) / denom)
    return best


def collides(candidate: Fingerprint, stored: Fingerprint, threshold: float = SEEN_THRESHOLD) -> bool:
    """Whether ``candidate`` is taken for a copy of ``stored``: the same nonce, or a response that resembles the
    stored one at ``threshold`` and more than it follows the candidate's own script (its ``fit``)."""
    if candidate.nonce and candidate.nonce == stored.nonce:
        return True
    score = similarity(candidate, stored)
    return score >= threshold and score > candidate.fit


def seen_before(candidate: Fingerprint, stored: list[Fingerprint], threshold: float = SEEN_THRESHOLD) -> bool:
    """Whether the capture, or an edited copy of it, was submitted before."""
    return any(collides(candidate, s, threshold) for s in stored)
