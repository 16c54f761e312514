"""Perceptual fingerprint of a capture, so the same capture (or a re-encoded copy) never passes twice (R-12.3).

Every 100 ms of the capture gives a coarse descriptor: an 8×6 grey thumbnail of the whole frame and the
mean colour of its centre (where the face and its flash reflection are). Each feature's mean over time
is subtracted, so what remains is how *this* session moved and flashed: the room and the person, the
same in every session of theirs, cancel out, while the random turn timing and colour sequence differ
between sessions. Re-encoding, rescaling or mild recompression keep the correlation near 1; another
session of the same person in the same room does not (a different script moves differently).

The service stores :meth:`Fingerprint.to_json` of every accepted and rejected capture and refuses a new
capture whose :func:`similarity` to a stored one reaches :data:`SEEN_THRESHOLD`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.capture import Capture
from liveness.errors import CaptureUndecodable

VERSION = 1
SLOT_MS = 100.0
THUMB = (8, 6)
MAX_SHIFT_SLOTS = 5  # a copy trimmed by up to half a second still lines up
MIN_OVERLAP_SLOTS = 10
# Measured on the simulator: a copy shrunk and recompressed as JPEG 50 scores 0.99; other sessions of
# the same subject, room and camera for other scripts 0.0–0.40. The same script performed twice scored
# 0.87 ("seen"): harmless, as a script is single-use and bound to one nonce.
SEEN_THRESHOLD = 0.8
_SCALE = 4.0  # stored as integers: quarter grey levels


@dataclass(frozen=True)
class Fingerprint:
    slots: tuple[tuple[int, ...], ...]
    slot_ms: float = SLOT_MS
    version: int = VERSION

    def to_json(self) -> str:
        return json.dumps(
            {"version": self.version, "slot_ms": self.slot_ms, "slots": [list(s) for s in self.slots]},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Fingerprint:
        try:
            data = json.loads(text)
            if data["version"] != VERSION:
                raise ValueError(f"unsupported fingerprint version {data['version']!r}")
            slots = tuple(tuple(int(v) for v in s) for s in data["slots"])
            return cls(slots=slots, slot_ms=float(data["slot_ms"]), version=VERSION)
        except (ValueError, KeyError, TypeError) as exc:
            raise CaptureUndecodable(f"malformed capture fingerprint: {exc}") from exc

    def matrix(self) -> NDArray[np.float64]:
        return np.asarray(self.slots, dtype=np.float64) / _SCALE


def _descriptor(frame: NDArray[np.uint8]) -> NDArray[np.float64]:
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    thumb = cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    h, w = frame.shape[:2]
    centre = frame[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4].reshape(-1, 3).mean(axis=0).astype(np.float64)
    return np.concatenate([thumb, centre])


def compute(capture: Capture) -> Fingerprint:
    """The fingerprint of a decoded capture (cheap: one small thumbnail per 100 ms)."""
    times = np.asarray(capture.timestamps_ms)
    descriptors = []
    t = 0.0
    while t <= capture.duration_ms + 1e-6:
        nearest = int(np.argmin(np.abs(times - t)))
        descriptors.append(_descriptor(capture.frames[nearest]))
        t += SLOT_MS
    data = np.asarray(descriptors)
    data -= data.mean(axis=0)
    q = np.clip(np.round(data * _SCALE), -32768, 32767).astype(int)
    return Fingerprint(slots=tuple(tuple(int(v) for v in row) for row in q))


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """Correlation (−1..1) of the two captures' time-varying parts at the best shift of up to ±0.5 s."""
    ma, mb = a.matrix(), b.matrix()
    best = 0.0
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


def seen_before(candidate: Fingerprint, stored: list[Fingerprint], threshold: float = SEEN_THRESHOLD) -> bool:
    """Whether the capture, or a near-identical copy, was submitted before."""
    return any(similarity(candidate, s) >= threshold for s in stored)
