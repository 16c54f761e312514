"""False reuse on many cheap sessions: ``python -m simulators.capture.reuse_synth [--people P] [--sessions N]``.

Rendering a thousand genuine sessions of one person costs more CPU than a shared machine gives, so this
models only what the fingerprint reads (``liveness.fingerprint``): per frame, the face's and the
background's mean colour. Each session draws a fresh default script (same order of actions for every
session of a person, the hardest case), a performer's motion from the capture simulator's own motion
model, a reflection gain (0.07–0.28, the simulator's lightings), a screen-to-camera latency (0–150 ms)
and 15 fps timestamps with ±2 ms jitter; the face is the person's skin colour lit by the room (with
shading that follows the head turn) plus the flash; sensor noise on both. Every pair of one person's
sessions is compared; a copy of each session (the same series with fresh noise, resampled at 14 fps and
shifted 0.3 s) is the positive control. Synthetic, and said so wherever its figure is quoted.
"""

from __future__ import annotations

import argparse
import itertools
import math

import numpy as np
from numpy.typing import NDArray

from liveness import fingerprint
from liveness.observe import BACKGROUND_COLUMNS, Observation
from liveness.script import Script, new_script
from simulators.capture.session import draw_motion, pose_at


def _session(
    script: Script,
    rng: np.random.Generator,
    skin: NDArray[np.float64],
    wall: NDArray[np.float64],
    fps: float,
    shift_ms: float = 0.0,
) -> list[Observation]:
    motion = draw_motion(script, rng)
    gain = float(rng.uniform(0.07, 0.28))
    lag = float(rng.uniform(0.0, 150.0))
    side = float(rng.uniform(0.15, 0.45))
    out = []
    step = 1000.0 / fps
    for i in range(int(script.duration_ms / step) + 1):
        t = i * step + (float(rng.uniform(-2.0, 2.0)) if i else 0.0)
        yaw = math.radians(pose_at(script, motion, t + shift_ms)[0].yaw)
        colour = script.colour_at(t + shift_ms - lag)
        flash = np.zeros(3) if colour is None else np.asarray(colour, dtype=np.float64) / 255.0
        face = skin * ((1.0 - side) + side * (1.0 + 0.6 * math.sin(yaw)) + gain * math.cos(yaw) * flash)
        face = face + rng.normal(0.0, 1.0, 3)
        bg = wall * (1.0 + 0.02 * gain * flash) + rng.normal(0.0, 0.4, 3)
        out.append(
            Observation(
                i,
                t,
                1,
                face_rgb=np.clip(face, 1, 255),
                columns_rgb=np.tile(np.clip(bg, 1, 255), (BACKGROUND_COLUMNS, 1)),
            )
        )
    return out


def run(people: int, sessions: int, seed: int) -> tuple[list[tuple[float, bool]], list[tuple[float, bool]]]:
    """(similarity and collision of every independent same-person pair, of every copy with its original)."""
    rng = np.random.default_rng(seed)
    pairs: list[tuple[float, bool]] = []
    copies: list[tuple[float, bool]] = []
    draw = 0
    for _ in range(people):
        skin = rng.uniform([120, 80, 60], [230, 180, 150])
        wall = rng.uniform(60, 200, 3)
        order: list[str] | None = None
        prints: list[fingerprint.Fingerprint] = []
        while len(prints) < sessions:
            draw += 1
            script = new_script(f"synthetic-{seed}-{draw}", now_ms=0, seed=seed * 7919 + draw)
            kinds: list[str] = [a.kind for a in script.actions]
            order = order or kinds
            if kinds != order:
                continue
            original = fingerprint.compute(
                _session(script, np.random.default_rng(draw), skin, wall, 15.0), script.nonce, script
            )
            prints.append(original)
            if len(prints) <= 10:  # the copy is submitted under a new script of its own
                fresh = new_script(f"synthetic-copy-{seed}-{draw}", now_ms=0, seed=seed * 7919 + draw + 10**6)
                copy = fingerprint.compute(
                    _session(script, np.random.default_rng(draw), skin, wall, 14.0, 300.0), fresh.nonce, fresh
                )
                copies.append((fingerprint.similarity(copy, original), fingerprint.collides(copy, original)))
        pairs += [
            (fingerprint.similarity(a, b), fingerprint.collides(a, b) or fingerprint.collides(b, a))
            for a, b in itertools.combinations(prints, 2)
        ]
    return pairs, copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.capture.reuse_synth", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--people", type=int, default=4)
    parser.add_argument("--sessions", type=int, default=48, help="sessions per person (all pairs compared)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    pairs, copies = run(args.people, args.sessions, args.seed)
    v, c = np.asarray([p[0] for p in pairs]), np.asarray([p[0] for p in copies])
    false = sum(p[1] for p in pairs)
    print(
        f"Synthetic false reuse: {false}/{len(v)} independent same-person pairs taken for copies "
        f"({args.people} synthetic people × {args.sessions} sessions, same order of actions); similarity "
        f"min {v.min():.3f} / median {np.median(v):.3f} / 99th pct {np.percentile(v, 99):.3f} / max {v.max():.3f} "
        f"(limit {fingerprint.SEEN_THRESHOLD}). Copies (fresh noise, 14 fps, 0.3 s shift, a new script): "
        f"{sum(x[1] for x in copies)}/{len(c)} caught, similarity min {c.min():.3f}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
