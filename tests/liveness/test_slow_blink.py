"""A slow but human reaction to the blink cue (R-7.3b): the reaction-timing check accepts a reaction up to
``reaction_max_ms`` after the cue, so the blink check must look that far too — before, a blink begun ~1 s
after its cue (within human reaction times) was refused as no blink."""

from __future__ import annotations

import numpy as np
import pytest

from liveness.checks_motion import check_blink, reaction_latencies
from liveness.detect import FaceBox
from liveness.observe import Observation
from liveness.script import Action, Script
from liveness.verdict import LivenessSettings

FPS_MS = 1000 / 15
BLINK_CUE = Action("blink", 1500, 2000)  # a 500 ms window, as the script's


def _script() -> Script:
    return Script(
        nonce="n", issued_at_ms=0, expires_at_ms=120_000, duration_ms=4000, min_turn_deg=15.0, min_up_deg=10.0,
        actions=(BLINK_CUE,), flashes=(),
    )  # fmt: skip


def _capture(blink_starts_ms: float) -> list[Observation]:
    """A still, frontal face at 15 fps whose eyes close for ~200 ms from ``blink_starts_ms``."""
    mesh = np.zeros((478, 3), dtype=np.float32)
    out = []
    for i in range(int(4000 / FPS_MS)):
        t = i * FPS_MS
        closed = blink_starts_ms <= t <= blink_starts_ms + 200
        out.append(
            Observation(
                index=i, t_ms=t, face_count=1, box=FaceBox(100, 100, 220, 220, 1.0), mesh=mesh, yaw=0.0, pitch=0.0,
                eye_openness=0.06 if closed else 0.30,
            )
        )  # fmt: skip
    return out


@pytest.mark.parametrize("latency_ms", [300, 1000, 1150])
def test_a_blink_within_a_human_reaction_time_is_seen(latency_ms: int) -> None:
    settings = LivenessSettings()
    observations = _capture(BLINK_CUE.start_ms + latency_ms)
    assert check_blink(observations, _script(), settings).passed
    [(_, latency)] = reaction_latencies(observations, _script(), settings)
    assert latency is not None and settings.reaction_min_ms <= latency <= settings.reaction_max_ms + 300


def test_a_blink_long_after_any_reaction_time_is_not_taken_for_the_asked_one() -> None:
    # 1.8 s after the cue: no reaction to it (the timing check would refuse it anyway).
    assert not check_blink(_capture(BLINK_CUE.start_ms + 1800), _script(), LivenessSettings()).passed
