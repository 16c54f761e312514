"""Defence in depth against an in-order injection, for any pair of scripts (issue 13, item 4):
``python -m simulators.capture.injection_depth``.

A genuine recording of a person, made for one script, is injected as the capture for another script with the
same order of actions. It must fail at least two of the independent layers: the flashes' colours
(``colour_flash``), the flashes' change times (``flash_timing``) and the reaction to the action cues
(``reaction_timing``). Two Monte Carlo estimates over random script pairs:

- **replay**: genuine sessions of the calibration people, rendered and observed once (the held-out evaluation's
  jobs and its ``--cache``), each judged against its own script (it must pass) and against ``--scripts`` random
  new scripts of its order (each such pair is one injection);
- **motion**: the reaction timing alone, on ``--pairs`` draws of the simulator's human latency model
  (``session.draw_motion``) with the head and eyes read from the model's pose (no rendering), so its pass rate is
  known far more precisely than the replay's; with the flash layers it gives the probability under independence.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from liveness.capture import decode_video
from liveness.checks_motion import check_reaction
from liveness.checks_signal import check_flash, check_flash_timing
from liveness.detect import FaceBox
from liveness.observe import Observation
from liveness.script import Script, new_script
from liveness.verdict import CheckResult, LivenessSettings
from simulators.capture import heldout_run
from simulators.capture.heldout_plan import CALIBRATION, SCRIPT, Job, plan
from simulators.capture.heldout_report import wilson
from simulators.capture.session import draw_motion, pose_at, timestamps

LAYERS = ("colour_flash", "flash_timing", "reaction_timing")


def layers(observations: Sequence[Observation], script: Script, settings: LivenessSettings) -> dict[str, CheckResult]:
    return {
        "colour_flash": check_flash(observations, script, settings),
        "flash_timing": check_flash_timing(observations, script, settings),
        "reaction_timing": check_reaction(observations, script, settings),
    }


def same_order(script: Script, count: int, seed: int) -> list[Script]:
    """``count`` random default scripts whose actions come in ``script``'s order (a matched recording's target)."""
    order = [a.kind for a in script.actions]
    out: list[Script] = []
    draw = 0
    while len(out) < count:
        candidate = new_script(f"new-{seed}-{draw}", now_ms=0, settings=SCRIPT, seed=seed + draw)
        draw += 1
        if [a.kind for a in candidate.actions] == order:
            out.append(candidate)
    return out


_BOX = FaceBox(100, 100, 200, 200, 1.0)
_MESH = np.zeros((478, 3), dtype=np.float32)


def modelled_observations(script: Script, rng: np.random.Generator, fps: float = 15.0) -> list[Observation]:
    """What the checks read of a performer following ``script``: the model's yaw and pitch read at 75–100 %
    (the Face Mesh reads turns short) with 1° of noise a frame, and the eye openness closing with the blink."""
    motion = draw_motion(script, rng)
    gain = float(rng.uniform(0.75, 1.0))
    out = []
    for index, t in enumerate(timestamps(script.duration_ms, fps)):
        pose, closure = pose_at(script, motion, t)
        out.append(
            Observation(
                index, t, 1, 320, _BOX, _MESH,
                yaw=gain * pose.yaw + float(rng.normal(0.0, 1.0)),
                pitch=gain * pose.pitch + float(rng.normal(0.0, 1.0)),
                eye_openness=0.3 * (1.0 - 0.85 * closure) + float(rng.normal(0.0, 0.01)),
            )
        )  # fmt: skip
    return out


def motion_rates(pairs: int, settings: LivenessSettings, seed: int = 0) -> tuple[int, int]:
    """(in-order injections the reaction timing passes, genuine sessions it refuses), each of ``pairs``."""
    rng = np.random.default_rng(seed)
    injected = refused = 0
    for k in range(pairs):
        recorded = new_script("recorded", now_ms=0, settings=SCRIPT, seed=10_000_000 + k)
        (target,) = same_order(recorded, 1, 20_000_000 + 1000 * k)
        injected += check_reaction(modelled_observations(recorded, rng), target, settings).passed
        refused += not check_reaction(modelled_observations(target, rng), target, settings).passed
    return injected, refused


def replay(
    recordings: int, scripts: int, settings: LivenessSettings
) -> tuple[list[dict[str, bool]], list[dict[str, bool]]]:
    """(for each genuine recording: which layers it passed for its own script; for each injection pair: which
    layers failed). The recordings are the calibration people's genuine sessions, round robin over people."""
    jobs, _, _ = plan(recordings, 0, 0, 1, fold=CALIBRATION)
    by_person: dict[str, list[Job]] = {}
    for job in jobs:
        by_person.setdefault(job.person, []).append(job)
    ordered = [j for batch in itertools.zip_longest(*by_person.values()) for j in batch if j is not None]
    own: list[dict[str, bool]] = []
    failed: list[dict[str, bool]] = []
    for number, job in enumerate(ordered[:recordings]):
        script = new_script(f"heldout-{job.number}", now_ms=0, settings=SCRIPT, seed=job.seed)
        capture = decode_video(heldout_run._session_mp4(job, script))
        observations, _ = heldout_run._observations(job, capture, script)
        own.append({name: r.passed for name, r in layers(observations, script, settings).items()})
        for target in same_order(script, scripts, 5_000_000 + 10_000 * number):
            failed.append({name: not r.passed for name, r in layers(observations, target, settings).items()})
        print(f"{job.person} {job.number}: own script {own[-1]}", flush=True)
    return own, failed


def _rate(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k}/{n} = {100 * k / max(n, 1):.2f} % (95 % {100 * low:.2f}–{100 * high:.2f} %)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.capture.injection_depth", description=__doc__)
    parser.add_argument("--pairs", type=int, default=20_000, help="motion-model script pairs")
    parser.add_argument("--recordings", type=int, default=42, help="genuine calibration recordings to replay")
    parser.add_argument("--scripts", type=int, default=200, help="new scripts each recording is injected for")
    parser.add_argument("--cache", type=Path, default=None, help="the held-out evaluation's session cache")
    args = parser.parse_args(argv)
    settings = LivenessSettings()
    heldout_run._use_cache(args.cache)
    injected, refused = motion_rates(args.pairs, settings)
    print(f"motion model: reaction_timing passes an in-order injection {_rate(injected, args.pairs)}; refuses a "
          f"genuine session {_rate(refused, args.pairs)}")  # fmt: skip
    if args.recordings <= 0:
        return 0
    own, failed = replay(args.recordings, args.scripts, settings)
    n = len(failed)
    for name in LAYERS:
        print(f"replay: {name} fails {_rate(sum(f[name] for f in failed), n)}; genuine passes "
              f"{_rate(sum(o[name] for o in own), len(own))}")  # fmt: skip
    fewer = sum(sum(f.values()) < 2 for f in failed)
    print(f"replay: in-order injections failing fewer than two layers {_rate(fewer, n)}")
    flash_pass = sum(not f["flash_timing"] for f in failed) / max(n, 1)
    colour_pass = sum(not f["colour_flash"] for f in failed) / max(n, 1)
    motion_pass = injected / max(args.pairs, 1)
    either = flash_pass * motion_pass + colour_pass * (motion_pass + flash_pass)
    print(f"independent layers: P(fewer than two fail) ≈ {100 * either:.3f} % (flash_timing passes "
          f"{100 * flash_pass:.2f} %, colour_flash {100 * colour_pass:.2f} %, reaction_timing {100 * motion_pass:.2f} %)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
