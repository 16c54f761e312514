"""Liveness figures on people held out: ``python -m simulators.capture.heldout [--live N] [--attacks N]``.

The people (14 from the shared fixtures, plus Grace Hopper's US Navy portrait that matplotlib ships,
public domain) are split into two folds by person. Every check's threshold is chosen on one fold's
sessions and the figures are reported on the other fold's, then the other way round, so every figure
rests on people whose scores chose no threshold. Sessions are rendered from every usable photo of a
person (their source poses spread 0–30°) under every lighting and camera, written as MP4 and decoded
again, then judged against the person's registration photo (another photo of them).

Printed as markdown: APCER per attack kind and BPCER with counts and 95 % Wilson intervals; each check's
score distribution per kind and its margins; FNMR/FMR of the face match against the registration
photo; false reuse between independent genuine sessions of one person (``--reuse-sessions`` of the
first person, all pairs, plus every person's genuine decision sessions) and the copies (re-encoded, mirrored,
cropped, re-timed) it must still catch; CPU of the decision.

``--cache DIR`` keeps every rendered session (MP4) and its per-frame observations (keyed by the source of
the modules that make them), so after a change to the checks alone the whole evaluation is judged again
in minutes; a change to the detection, mesh or pose code observes again, and one to the simulator needs
an empty cache (the MP4s are keyed by the job and the script, not by the simulator's code).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import cast

import numpy as np

from liveness import fingerprint
from liveness.calibrate import LABELS, default_faces_dir
from liveness.capture import Capture, decode_video, from_arrays
from liveness.decision import Reference, judge, observe_capture
from liveness.detect import Encoding, detect_faces, face_distance
from liveness.geometry import head_pose_from_mesh
from liveness.images import RGBImage, decode_image
from liveness.match import reference_encoding
from liveness.mesh import mesh_landmarks
from liveness.observe import Observation
from liveness.script import Script, ScriptSettings, new_script
from simulators.capture.scenes import CAMERAS, LIGHTINGS
from simulators.capture.session import ATTACKS, Kind, SessionSpec, mp4_bytes, simulate

SCRIPT = ScriptSettings()  # the service's default: 4 s
# Which attacks each calibrated check is there to stop (its threshold sits between them and live).
TARGETS: dict[str, tuple[str, ...]] = {
    "script_followed": ("print_still", "print_moved", "eye_cutout"),
    "planarity": ("print_still", "print_moved", "eye_cutout"),
    "colour_flash": ("screen_replay", "video_injection", "injection_matched"),
    "blink": ("print_still", "print_moved"),
}
REPORTED = ("script_followed", "reaction_timing", "planarity", "blink", "colour_flash", "one_identity", "whole_face")
HOPPER = "grace_hopper.jpg"


def photo_paths() -> dict[str, list[Path]]:
    """person → their photos (the shared fixtures and the public-domain portrait matplotlib ships)."""
    faces = default_faces_dir()
    people: dict[str, list[Path]] = collections.defaultdict(list)
    for name, person in LABELS.items():
        people[person].append(faces / name)
    for path in sorted((faces.parent / "faces-more").glob("p*_*.jpg")):
        people[path.stem.split("_")[0]].append(path)
    import matplotlib

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / HOPPER
    if hopper.is_file():
        people["grace_hopper"].append(hopper)
    return dict(people)


@cache
def _image(path: str) -> RGBImage:
    image = decode_image(Path(path).read_bytes(), max_pixels=40_000_000, max_bytes=50_000_000)
    side = max(image.shape[:2])
    if side > 1000:  # meshing a 2500-px photo costs more and tells no more
        import cv2

        scale = 1000 / side
        image = np.asarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    return image


def source_yaw(path: str) -> float | None:
    """The photo's own head turn (degrees, from the Face Mesh), or None if it has no usable face."""
    image = _image(path)
    boxes = detect_faces(image, upsample=1)
    if len(boxes) != 1:  # no face, or a group photo (p07_3.jpg): no single subject to render
        return None
    mesh = mesh_landmarks(image, boxes[0])
    return None if mesh is None else abs(head_pose_from_mesh(mesh).yaw)


@dataclass(frozen=True)
class Job:
    number: int
    fold: int
    person: str
    kind: Kind
    photo: str
    reference: str | None  # another photo of the same person, or None
    lighting: str
    camera: str
    seed: int
    fps: float = 15.0


@dataclass
class Outcome:
    job: Job
    scores: dict[str, float] = field(default_factory=dict)
    passed: dict[str, bool] = field(default_factory=dict)
    match: float | None = None
    impostor: dict[str, float] = field(default_factory=dict)  # other people's registration photos
    decide_cpu_s: float = 0.0
    print_json: str | None = None
    copies: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    details: dict[str, str] = field(default_factory=dict)


@cache
def _encoding(path: str) -> Encoding | None:
    try:
        return reference_encoding(_image(path), "registration")
    except Exception:  # a photo without a usable face is simply not a reference
        return None


def _copies(capture: Capture, stored: fingerprint.Fingerprint) -> dict[str, float]:
    import cv2

    frames, times = list(capture.frames), list(capture.timestamps_ms)
    h, w = frames[0].shape[:2]

    def jpeg(f: RGBImage) -> RGBImage:
        _, buf = cv2.imencode(
            ".jpg",
            np.ascontiguousarray(cv2.resize(f, (w * 4 // 5, h * 4 // 5))[:, :, ::-1]),
            [cv2.IMWRITE_JPEG_QUALITY, 40],
        )
        return np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1], dtype=np.uint8)

    start = next(i for i, t in enumerate(times) if t >= 300)
    variants = {
        "reencoded": from_arrays([jpeg(f) for f in frames], times),
        "mirrored": from_arrays([np.ascontiguousarray(f[:, ::-1]) for f in frames], times),
        "cropped": from_arrays(
            [
                np.asarray(cv2.resize(f[h // 10 : h - h // 10, w // 10 : w - w // 10], (w, h)), dtype=np.uint8)
                for f in frames
            ],
            times,
        ),
        "retimed": from_arrays(frames[start:], [(t - times[start]) * 1.07 for t in times[start:]]),
    }
    return {k: fingerprint.similarity(fingerprint.of_capture(v, "copy"), stored) for k, v in variants.items()}


def reuse_job(job: Job, with_copies: bool) -> Outcome:
    """A genuine session for the false-reuse count only: rendered and fingerprinted straight from the
    frames (no MP4 round trip, no encodings), as cheap as an honest session gets."""
    out = Outcome(job)
    try:
        script = new_script(f"reuse-{job.number}", now_ms=0, settings=SCRIPT, seed=job.seed)
        spec = SessionSpec(kind="live", lighting=job.lighting, camera=job.camera, fps=job.fps, seed=job.seed)
        simulated = simulate(_image(job.photo), script, spec)
        capture = from_arrays(simulated.frames, simulated.timestamps_ms)
        printed = fingerprint.of_capture(capture, script.nonce, rest_until_ms=script.actions[0].start_ms)
        out.print_json = printed.to_json()
        if with_copies:
            out.copies = _copies(capture, printed)
    except Exception as exc:  # reported, not fatal
        out.error = f"{type(exc).__name__}: {exc}"
    return out


CACHE_DIR: Path | None = None  # rendered MP4s kept here (--cache), so a re-run judges without re-rendering


def _session_mp4(job: Job, script: Script) -> bytes:
    spec = SessionSpec(kind=job.kind, lighting=job.lighting, camera=job.camera, fps=job.fps, seed=job.seed)
    cached = None
    if CACHE_DIR is not None:
        key = hashlib.blake2b(repr((job, script.to_json())).encode(), digest_size=12).hexdigest()
        cached = CACHE_DIR / f"{job.number}-{key}.mp4"
        if cached.is_file():
            return cached.read_bytes()
    simulated = simulate(_image(job.photo), script, spec)
    with tempfile.TemporaryDirectory(prefix="liveness-heldout-") as tmp:
        data = mp4_bytes(simulated, Path(tmp))
    if cached is not None:
        cached.write_bytes(data)
    return data


def _code_version() -> str:
    """A hash of the modules the observations come from: cached observations are used only by the same code."""
    import liveness

    root = Path(liveness.__file__).parent
    digest = hashlib.blake2b(digest_size=8)
    for name in ("capture.py", "detect.py", "mesh.py", "geometry.py", "observe.py", "models.py", "decision.py"):
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def _observations(job: Job, capture: Capture, script: Script) -> tuple[list[Observation], float]:
    """(observations, the CPU seconds they cost when computed): from the cache when the same code made them,
    so a change to the checks alone is judged again in seconds."""
    path = None
    if CACHE_DIR is not None:
        key = hashlib.blake2b(repr((job, script.to_json(), _code_version())).encode(), digest_size=12).hexdigest()
        path = CACHE_DIR / f"{job.number}-{key}.obs.pickle"
        if path.is_file():
            observations, cpu = pickle.loads(path.read_bytes())
            return observations, cpu
    started = time.process_time()
    observations = observe_capture(capture, script)
    cpu = time.process_time() - started
    if path is not None:
        path.write_bytes(pickle.dumps((observations, cpu)))
    return observations, cpu


def run_job(job: Job, with_copies: bool = False) -> Outcome:
    out = Outcome(job)
    try:
        script = new_script(f"heldout-{job.number}", now_ms=0, settings=SCRIPT, seed=job.seed)
        started = time.process_time()
        capture = decode_video(_session_mp4(job, script))
        observations, observe_cpu = _observations(job, capture, script)
        ref = _encoding(job.reference) if job.reference else None
        started = time.process_time()
        reference = Reference(ref, "registration") if ref is not None else None
        verdict = judge(capture, observations, script, reference)
        out.decide_cpu_s = observe_cpu + time.process_time() - started
        out.scores = {c.name: c.score for c in verdict.checks}
        out.passed = {c.name: c.passed for c in verdict.checks if c.gating}
        out.details = {c.name: c.detail for c in verdict.checks}
        match = verdict.check("face_match")
        out.match = match.score if match is not None else None
        out.print_json = verdict.fingerprint
        if with_copies and verdict.fingerprint:
            out.copies = _copies(capture, fingerprint.Fingerprint.from_json(verdict.fingerprint))
        if verdict.encodings and job.kind == "live":
            for person, paths in photo_paths().items():
                if person == job.person:
                    continue
                enc = _encoding(str(paths[0]))
                if enc is not None:
                    out.impostor[person] = float(np.median([face_distance(enc, e) for e in verdict.encodings]))
    except Exception as exc:  # one broken session must not lose the run; it is reported
        out.error = f"{type(exc).__name__}: {exc}"
    return out


def _use_cache(folder: Path | None) -> None:
    global CACHE_DIR
    CACHE_DIR = folder
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)


def _run(args: tuple[Job, bool, bool]) -> Outcome:
    job, with_copies, reuse_only = args
    return reuse_job(job, with_copies) if reuse_only else run_job(job, with_copies)


def plan(live: int, attacks: int, reuse: int, seed: int) -> tuple[list[Job], list[Job], dict[str, float]]:
    """(decision jobs, reuse-only live jobs, source yaw per photo)."""
    people = photo_paths()
    yaws: dict[str, float] = {}
    usable: dict[str, list[str]] = {}
    for person, paths in sorted(people.items()):
        ok = []
        for p in paths:
            y = source_yaw(str(p))
            if y is not None and y <= 32.0:
                ok.append(str(p))
                yaws[str(p)] = y
        if ok:
            usable[person] = ok
    persons = sorted(usable)
    lightings, cameras = sorted(LIGHTINGS), sorted(CAMERAS)
    jobs: list[Job] = []
    reuse_jobs: list[Job] = []
    number = 0
    for index, person in enumerate(persons):
        fold = index % 2
        photos = usable[person]
        attack_kinds = [cast(Kind, k) for k in ATTACKS for _ in range(attacks)]
        shift = index % max(len(attack_kinds), 1)  # each person starts at another attack: a cut-short run
        attack_kinds = attack_kinds[shift:] + attack_kinds[:shift]  # still covers every kind
        # Genuine and attack sessions alternate, so a run cut short still has both.
        lives: list[Kind] = ["live"] * live
        kinds: list[Kind] = [k for pair in itertools.zip_longest(lives, attack_kinds) for k in pair if k is not None]
        for i, kind in enumerate(kinds):
            source = photos[i % len(photos)]
            others = [p for p in photos if p != source]
            jobs.append(
                Job(number, fold, person, kind, source, others[0] if others else None,
                    lightings[(i + index) % len(lightings)], cameras[(i + 2 * index) % len(cameras)],
                    seed * 1_000_003 + number)
            )  # fmt: skip
            number += 1
        if index == 0:  # many independent genuine sessions of one person, for false reuse (all pairs)
            for k in range(reuse):
                reuse_jobs.append(
                    Job(
                        1_000_000 + k,
                        fold,
                        person,
                        "live",
                        photos[0],
                        None,
                        "office",
                        "laptop",
                        seed * 1_000_003 + 1_000_000 + k,
                    )
                )
    return jobs, reuse_jobs, yaws


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _fmt_rate(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / max(n, 1):.1f} % (95 % {100 * lo:.1f}–{100 * hi:.1f} %)"


def choose(live: list[float], attacks: list[float]) -> float:
    """Midway between the worst live score and the best attack score of the fold; if they overlap, the
    lowest threshold that still refuses every attack of the fold."""
    if not live or not attacks:
        return float("nan")
    hi_attack, lo_live = max(attacks), min(live)
    if lo_live > hi_attack:
        return (lo_live + hi_attack) / 2.0
    return hi_attack + 1e-6


def thresholds_from(outcomes: list[Outcome]) -> dict[str, float]:
    out: dict[str, float] = {}
    live = [o for o in outcomes if o.job.kind == "live" and not o.error]
    for check, kinds in TARGETS.items():
        attack = [o.scores[check] for o in outcomes if o.job.kind in kinds and check in o.scores and not o.error]
        out[check] = choose([o.scores[check] for o in live if check in o.scores], attack)
    genuine = [o.match for o in live if o.match is not None]
    impostor = [d for o in live for d in o.impostor.values()]
    if genuine and impostor:
        # Match: a distance below the threshold matches; midway between the fold's worst genuine and best impostor.
        g, i = max(genuine), min(impostor)
        out["face_match"] = (g + i) / 2.0 if g < i else i - 1e-6
    return out


def pad_accepted(o: Outcome, t: dict[str, float]) -> bool:
    """Every liveness check passes under the thresholds ``t`` (the face match is reported apart)."""
    if o.error or not o.passed:
        return False
    for name, ok in o.passed.items():
        if name == "face_match":
            continue
        if name in TARGETS:
            if o.scores.get(name, -1.0) < t[name]:
                return False
        elif not ok:
            return False
    return True


def _dist(values: list[float]) -> str:
    if not values:
        return "–"
    v = np.asarray(values)
    return f"{v.min():.3f} / {np.percentile(v, 5):.3f} / {np.median(v):.3f} / {v.max():.3f}"


def report(outcomes: list[Outcome], reuse: list[Outcome], yaws: dict[str, float], elapsed: float) -> str:
    folds = [[o for o in outcomes if o.job.fold == f] for f in (0, 1)]
    people = [sorted({o.job.person for o in f}) for f in folds]
    chosen = [thresholds_from(folds[1]), thresholds_from(folds[0])]  # fold f is judged with the other's
    lines = ["## Liveness on held-out people (`python -m simulators.capture.heldout`)", ""]
    lines.append(
        f"{len({o.job.person for o in outcomes})} people in two folds: A = {', '.join(people[0])}; "
        f"B = {', '.join(people[1])}. Thresholds chosen on one fold, figures on the other."
    )
    lines += ["", "| check | chosen on B (judges A) | chosen on A (judges B) | default in code |", "|---|---|---|---|"]
    from liveness.verdict import LivenessSettings

    d = LivenessSettings()
    defaults = {"script_followed": d.turn_min_share, "planarity": d.planarity_min, "colour_flash": d.flash_min_r2, "blink": d.blink_drop,
                "face_match": d.match.registration_threshold}  # fmt: skip
    for name in (*TARGETS, "face_match"):
        lines.append(
            f"| {name} | {chosen[0].get(name, float('nan')):.3f} | {chosen[1].get(name, float('nan')):.3f} | {defaults[name]} |"
        )
    lines += [
        "",
        "| presentation | people | sessions | fold A (thresholds from B) | fold B (thresholds from A) | pooled, 95 % Wilson |",
        "|---|---|---|---|---|---|",
    ]
    kinds = ["live", *ATTACKS]
    for kind in kinds:
        group = [(o, chosen[o.job.fold]) for o in outcomes if o.job.kind == kind]
        if not group:
            continue

        def refused(g: list[tuple[Outcome, dict[str, float]]], live: bool = kind == "live") -> tuple[int, int]:
            bad = sum((not pad_accepted(o, t)) if live else pad_accepted(o, t) for o, t in g)
            return bad, len(g)

        per_fold = [refused([(o, t) for o, t in group if o.job.fold == f]) for f in (0, 1)]
        k, n = refused(group)
        name = "BPCER" if kind == "live" else "APCER"
        cells = [f"{a}/{b} = {100 * a / max(b, 1):.1f} %" for a, b in per_fold]
        persons = len({o.job.person for o, _ in group})
        lines.append(f"| {kind} | {persons} | {n} | {cells[0]} | {cells[1]} | {name} {_fmt_rate(k, n)} |")
    live = [(o, chosen[o.job.fold]) for o in outcomes if o.job.kind == "live"]
    fails = collections.Counter(
        name for o, t in live if not pad_accepted(o, t) for name, ok in o.passed.items()
        if name != "face_match" and (not ok if name not in TARGETS else o.scores.get(name, -1) < t[name])
    )  # fmt: skip
    lines += [
        "",
        "Genuine sessions refused, by check: " + (", ".join(f"{k} {v}" for k, v in fails.most_common()) or "none"),
    ]
    buckets: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for o, t in live:
        y = yaws.get(o.job.photo, 0.0)
        key = "0–10°" if y < 10 else "10–20°" if y < 20 else "20–32°"
        buckets[key][0] += 1
        buckets[key][1] += 0 if pad_accepted(o, t) else 1
    lines.append(
        "BPCER by the source photo's own turn: "
        + "; ".join(f"{k}: {r}/{n} refused" for k, (n, r) in sorted(buckets.items()))
    )
    lines += ["", "Score distributions, held out (min / 5th pct / median / max), with each check's margins:", ""]
    lines += ["| kind | " + " | ".join(REPORTED) + " |", "|---" * (len(REPORTED) + 1) + "|"]
    for kind in kinds:
        ok = [o for o in outcomes if o.job.kind == kind and not o.error]
        if ok:
            cells = [_dist([o.scores[n] for o in ok if n in o.scores]) for n in REPORTED]
            lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| check | fold | threshold | worst live − threshold | threshold − best targeted attack |",
        "|---|---|---|---|---|",
    ]
    for name, targets in TARGETS.items():
        for f in (0, 1):
            limit = chosen[f][name]
            lv = [o.scores[name] for o in folds[f] if o.job.kind == "live" and name in o.scores]
            at = [o.scores[name] for o in folds[f] if o.job.kind in targets and name in o.scores]
            if lv and at:
                lines.append(f"| {name} | {'AB'[f]} | {limit:.3f} | {min(lv) - limit:+.3f} | {limit - max(at):+.3f} |")
    # Injection in the matching order: how many independent checks stop each one.
    matched = [o for o in outcomes if o.job.kind == "injection_matched" and not o.error]
    if matched:
        both = sum(
            (o.scores.get("colour_flash", 1) < chosen[o.job.fold]["colour_flash"])
            and not o.passed.get("reaction_timing", True)
            for o in matched
        )
        lines += ["", f"Pre-recorded genuine video in the script's order: {both}/{len(matched)} fail both the colour "
                  f"flash and the reaction timing ({len({o.job.person for o in matched})} people)."]  # fmt: skip
    lines += _match_lines(outcomes, chosen)
    lines += _reuse_lines(outcomes, reuse)
    cpu = [o.decide_cpu_s for o in outcomes if not o.error]
    errors = [o for o in outcomes + reuse if o.error]
    lines += [
        "",
        f"Decision CPU (4 s script, 320×240 at 15 fps, incl. one encoding per identity frame): p50 "
        f"{np.median(cpu):.2f} s, p90 {np.percentile(cpu, 90):.2f} s over {len(cpu)} sessions. "
        f"{len(outcomes) + len(reuse)} sessions rendered in {elapsed:.0f} s wall. Errors: {len(errors)}"
        + "".join(f"\n- {o.job}: {o.error}" for o in errors[:5]),
    ]
    return "\n".join(lines)


def _match_lines(outcomes: list[Outcome], chosen: list[dict[str, float]]) -> list[str]:
    live = [o for o in outcomes if o.job.kind == "live" and not o.error]
    genuine = [(o.match, chosen[o.job.fold].get("face_match", 0.0)) for o in live if o.match is not None]
    impostor = [(d, chosen[o.job.fold].get("face_match", 0.0)) for o in live for d in o.impostor.values()]
    if not genuine or not impostor:
        return ["", "Face match: not enough encoded sessions."]
    fnmr = sum(d > t for d, t in genuine)
    fmr = sum(d <= t for d, t in impostor)
    people = len({o.job.person for o in live if o.match is not None})
    return [
        "",
        f"Face match against the registration photo (another photo of the person; {people} people with two or "
        f"more photos), held-out thresholds: FNMR {_fmt_rate(fnmr, len(genuine))}; FMR {_fmt_rate(fmr, len(impostor))} "
        f"(genuine distances {_dist([d for d, _ in genuine])}, impostor {_dist([d for d, _ in impostor])}).",
    ]


def _reuse_lines(outcomes: list[Outcome], reuse: list[Outcome]) -> list[str]:
    by_person: dict[str, list[fingerprint.Fingerprint]] = collections.defaultdict(list)
    for o in [*reuse, *(o for o in outcomes if o.job.kind == "live")]:
        if o.print_json and not o.error:
            by_person[o.job.person].append(fingerprint.Fingerprint.from_json(o.print_json))
    sims = [fingerprint.similarity(a, b) for prints in by_person.values() for a, b in itertools.combinations(prints, 2)]
    if not sims:
        return []
    false = sum(s >= fingerprint.SEEN_THRESHOLD for s in sims)
    copies: dict[str, list[float]] = collections.defaultdict(list)
    for o in reuse:
        for k, v in o.copies.items():
            copies[k].append(v)
    caught = ", ".join(
        f"{k} {sum(v >= fingerprint.SEEN_THRESHOLD for v in vs)}/{len(vs)} (min {min(vs):.3f})"
        for k, vs in copies.items()
    )
    return [
        "",
        f"False reuse: {_fmt_rate(false, len(sims))} of {len(sims)} pairs of independent genuine sessions of the same "
        f"person ({len(by_person)} people; similarity {_dist(sims)}; limit {fingerprint.SEEN_THRESHOLD}). "
        f"Copies caught: {caught or 'not measured'}.",
    ]


def _load(path: Path) -> tuple[list[Outcome], list[Outcome]]:
    outcomes: list[Outcome] = []
    reuse: list[Outcome] = []
    for line in path.read_text().splitlines():
        data = json.loads(line)
        role = data.pop("role")
        data["job"] = Job(**data["job"])
        (reuse if role == "reuse" else outcomes).append(Outcome(**data))
    return outcomes, reuse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.capture.heldout", description=__doc__.split("\n")[0])
    parser.add_argument("--live", type=int, default=6, help="genuine sessions per person")
    parser.add_argument("--attacks", type=int, default=2, help="sessions per attack kind per person")
    parser.add_argument(
        "--reuse-sessions",
        type=int,
        default=0,
        help="extra genuine sessions of the first person, for false reuse (all pairs)",
    )
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--out", type=Path, default=None, help="append each outcome to this JSON-lines file as it comes"
    )
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep rendered sessions (MP4) here and reuse them on the next run"
    )
    parser.add_argument("--reuse-only", action="store_true", help="run only the false-reuse sessions")
    parser.add_argument("--report", type=Path, default=None, help="only print the report of an --out file")
    args = parser.parse_args(argv)
    if not default_faces_dir().is_dir():
        print(f"faces folder not found: {default_faces_dir()}", file=sys.stderr)
        return 2
    jobs, reuse_jobs, yaws = plan(args.live, args.attacks, args.reuse_sessions, args.seed)
    if args.report is not None:
        outcomes, reuse = _load(args.report)
        print(report(outcomes, reuse, yaws, 0.0))
        return 0
    # Round robin over people (and one reuse session after every three decisions), so a run cut short
    # still covers everyone evenly.
    by_person: dict[str, list[Job]] = collections.defaultdict(list)
    for j in jobs:
        by_person[j.person].append(j)
    decisions = [j for batch in itertools.zip_longest(*by_person.values()) for j in batch if j is not None]
    extra = [(j, i % 4 == 0, True) for i, j in enumerate(reuse_jobs)]
    done: set[int] = set()
    if args.out is not None and args.out.is_file():  # resume: jobs already in the file are not run again
        done = {int(json.loads(line)["job"]["number"]) for line in args.out.read_text().splitlines() if line}
    decisions = [j for j in decisions if j.number not in done]
    extra = [w for w in extra if w[0].number not in done]
    work: list[tuple[Job, bool, bool]] = []
    if args.reuse_only:
        work = extra
    else:
        for i, j in enumerate(decisions):
            work.append((j, False, False))
            if i % 3 == 2 and extra:
                work.append(extra.pop(0))
        work += extra
    reuse_numbers = {j.number for j in reuse_jobs}
    started = time.time()
    results: list[Outcome] = []
    sink = args.out.open("a") if args.out is not None else None
    try:
        ctx = multiprocessing.get_context("spawn")  # MediaPipe graphs must not be forked mid-flight
        with ctx.Pool(max(1, args.workers), initializer=_use_cache, initargs=(args.cache,)) as pool:
            for outcome in pool.imap_unordered(_run, work):
                results.append(outcome)
                if sink is not None:
                    row = dataclasses.asdict(outcome)
                    row["role"] = "reuse" if outcome.job.number in reuse_numbers else "decision"
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
    finally:
        if sink is not None:
            sink.close()
    if args.out is not None:
        outcomes, reuse = _load(args.out)
    else:
        outcomes = [o for o in results if o.job.number not in reuse_numbers]
        reuse = [o for o in results if o.job.number in reuse_numbers]
    print(report(outcomes, reuse, yaws, time.time() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
