"""The held-out evaluation's statistics and the synthetic false-reuse estimate (issue 13)."""

from __future__ import annotations

import pytest

from liveness import fingerprint
from simulators.capture import heldout, reuse_synth


def test_wilson_bounds_match_known_values() -> None:
    lo, hi = heldout.wilson(0, 30)
    assert lo == 0.0 and hi == pytest.approx(0.1135, abs=0.001)
    lo, hi = heldout.wilson(5, 100)
    assert lo == pytest.approx(0.0215, abs=0.001) and hi == pytest.approx(0.1118, abs=0.001)


def test_a_threshold_sits_between_live_and_attacks_or_refuses_every_attack() -> None:
    assert heldout.choose([0.30, 0.40], [0.05, 0.10]) == pytest.approx(0.20)
    overlapping = heldout.choose([0.08, 0.40], [0.05, 0.10])
    assert overlapping > 0.10  # every attack of the fold refused, the low live score given up


def test_people_are_split_into_two_folds_by_person() -> None:
    jobs, _, yaws = heldout.plan(live=1, attacks=0, reuse=0, seed=1)
    folds = {j.person: j.fold for j in jobs}
    assert len(folds) >= 12 and set(folds.values()) == {0, 1}
    assert max(yaws.values()) >= 12.0  # source photos turned (up to ~15°: HOG finds no more turned ones) and frontal


def test_synthetic_independent_sessions_do_not_collide_and_copies_are_caught() -> None:
    pairs, copies = reuse_synth.run(people=1, sessions=8, seed=3)
    assert len(pairs) == 28 and max(pairs) < fingerprint.SEEN_THRESHOLD
    assert copies and min(copies) >= fingerprint.SEEN_THRESHOLD
