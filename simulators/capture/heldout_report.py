"""The held-out evaluation's statistics and its markdown report (``python -m simulators.capture.heldout``)."""

from __future__ import annotations

import collections
import itertools
import json
import math
from pathlib import Path

import numpy as np

from liveness import fingerprint
from simulators.capture.heldout_plan import CALIBRATION, HELD_OUT, REPORTED, TARGETS, Job
from simulators.capture.heldout_run import Outcome
from simulators.capture.session import ATTACKS


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


TARGET_FMR = 0.001  # a security threshold: at most one false match in a thousand pairs


def choose_match(genuine: list[float], impostor: list[float], target: float = TARGET_FMR) -> float:
    """A face-match threshold (a distance ≤ it matches): of the thresholds on a 0.01 grid whose FMR is ≤
    ``target``, those with the lowest FNMR; of them the middle one (as far from the worst genuine pair it keeps
    as from the closest impostor it refuses). With fewer than 1,000 impostor pairs no false match is allowed."""
    if not genuine or not impostor:
        return float("nan")
    grid = [round(0.30 + 0.01 * i, 2) for i in range(61)]  # 0.30 … 0.90
    feasible = [t for t in grid if sum(d <= t for d in impostor) <= target * len(impostor)]
    if not feasible:
        return float("nan")
    fnmr = {t: sum(d > t for d in genuine) for t in feasible}
    best = [t for t in feasible if fnmr[t] == min(fnmr.values())]
    return float(np.floor(100 * (best[0] + best[-1]) / 2) / 100)


def thresholds_from(outcomes: list[Outcome]) -> dict[str, float]:
    out: dict[str, float] = {}
    live = [o for o in outcomes if o.job.kind == "live" and not o.error]
    for check, kinds in TARGETS.items():
        attack = [o.scores[check] for o in outcomes if o.job.kind in kinds and check in o.scores and not o.error]
        out[check] = choose([o.scores[check] for o in live if check in o.scores], attack)
    # Face match: sessions against their registration photo and against the photos of the fold's other people
    # (never another fold's); benchmarks.registration_threshold adds photo-vs-photo impostor pairs.
    people = {o.job.person for o in outcomes}
    genuine = [o.match for o in live if o.match is not None]
    impostor = [d for o in live for p, d in o.impostor.items() if p in people]
    out["face_match"] = choose_match(genuine, impostor)
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


def code_defaults() -> dict[str, float]:
    """The thresholds the code uses now, by the names of :data:`TARGETS` (and the face match's)."""
    from liveness.verdict import LivenessSettings

    d = LivenessSettings()
    return {"script_followed": d.turn_min_share, "planarity": d.planarity_min, "colour_flash": d.flash_min_r2,
            "flash_timing": d.flash_timing_min_auc, "blink": d.blink_drop,
            "face_match": d.match.registration_threshold}  # fmt: skip


def _refused_by(o: Outcome, t: dict[str, float]) -> list[str]:
    return [
        name for name, ok in o.passed.items()
        if name != "face_match" and (not ok if name not in TARGETS else o.scores.get(name, -1) < t[name])
    ]  # fmt: skip


def _source(job: Job) -> str:
    """The source photo's name, with the own turn it was re-rendered at."""
    return Path(job.photo).name + ("" if job.pose is None else f"@{job.pose:g}°")


def report(outcomes: list[Outcome], reuse: list[Outcome], yaws: dict[str, float], elapsed: float) -> str:
    """Thresholds chosen on the calibration people by :func:`choose`; every figure is of the code's defaults
    on the held-out people only (the two agree when the defaults were set from this run's calibration)."""
    calibration = [o for o in outcomes if o.job.fold == CALIBRATION]
    held = [o for o in outcomes if o.job.fold == HELD_OUT]
    chosen = thresholds_from(calibration)
    defaults = code_defaults()
    lines = ["## Liveness on held-out people (`python -m simulators.capture.heldout`)", ""]
    lines.append(
        f"Calibration people ({len({o.job.person for o in calibration})}, {len(calibration)} sessions): "
        f"{', '.join(sorted({o.job.person for o in calibration}))}. Held out ({len({o.job.person for o in held})}, "
        f"{len(held)} sessions): {', '.join(sorted({o.job.person for o in held}))}. Every figure below is of the "
        "code's defaults on the held-out people only."
    )
    lines += ["", "| check | chosen on the calibration people | default in code |", "|---|---|---|"]
    for name in (*TARGETS, "face_match"):
        note = " (`benchmarks.registration_threshold`: photo pairs added)" if name == "face_match" else ""
        lines.append(f"| {name} | {chosen.get(name, float('nan')):.3f} | {defaults[name]}{note} |")
    lines += [
        "",
        "| presentation | people | sessions | refused/accepted | APCER / BPCER, 95 % Wilson |",
        "|---|---|---|---|---|",
    ]
    kinds = ["live", *ATTACKS]
    for kind in kinds:
        group = [o for o in held if o.job.kind == kind]
        if not group:
            continue
        live = kind == "live"
        k = sum((not pad_accepted(o, defaults)) if live else pad_accepted(o, defaults) for o in group)
        name, what = ("BPCER", "refused") if live else ("APCER", "accepted")
        persons = len({o.job.person for o in group})
        lines.append(f"| {kind} | {persons} | {len(group)} | {k} {what} | {name} {_fmt_rate(k, len(group))} |")
    live_held = [o for o in held if o.job.kind == "live"]
    fails = collections.Counter(n for o in live_held if not pad_accepted(o, defaults) for n in _refused_by(o, defaults))
    lines += [
        "",
        "Genuine sessions refused, by check: " + (", ".join(f"{k} {v}" for k, v in fails.most_common()) or "none"),
    ]
    lines += [f"- {o.job.person} {_source(o.job)} {o.job.lighting}/{o.job.camera}: {', '.join(_refused_by(o, defaults))}"
              for o in live_held if not pad_accepted(o, defaults)]  # fmt: skip
    buckets: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for o in live_held:
        y = o.job.pose if o.job.pose is not None else yaws.get(o.job.photo, 0.0)  # a re-rendered photo's own turn
        key = "0–10°" if y < 10 else "10–20°" if y < 20 else "20–32°"
        buckets[key][0] += 1
        buckets[key][1] += 0 if pad_accepted(o, defaults) else 1
    lines.append(
        "BPCER by the source photo's own turn: "
        + "; ".join(f"{k}: {r}/{n} refused" for k, (n, r) in sorted(buckets.items()))
    )
    lines += ["", "Score distributions, held out (min / 5th pct / median / max):", ""]
    lines += ["| kind | " + " | ".join(REPORTED) + " |", "|---" * (len(REPORTED) + 1) + "|"]
    for kind in kinds:
        ok = [o for o in held if o.job.kind == kind and not o.error]
        if ok:
            cells = [_dist([o.scores[n] for o in ok if n in o.scores]) for n in REPORTED]
            lines.append(f"| {kind} ({len({o.job.person for o in ok})} people) | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| check | default | worst held-out live − default | default − best held-out targeted attack |",
        "|---|---|---|---|",
    ]
    for name, targets in TARGETS.items():
        lv = [o.scores[name] for o in live_held if name in o.scores]
        at = [o.scores[name] for o in held if o.job.kind in targets and name in o.scores]
        if lv and at:
            limit = defaults[name]
            lines.append(f"| {name} | {limit} | {min(lv) - limit:+.3f} | {limit - max(at):+.3f} |")
    matched = [o for o in held if o.job.kind == "injection_matched" and not o.error]
    if matched:
        layers = ("colour_flash", "flash_timing", "reaction_timing")
        both = sum(sum(not o.passed.get(name, True) for name in layers) >= 2 for o in matched)
        lines += ["", f"Pre-recorded genuine video in the script's order: {both}/{len(matched)} fail at least two of "
                  f"{', '.join(layers)} ({len({o.job.person for o in matched})} people)."]  # fmt: skip
    lines += _match_lines(held, defaults["face_match"])
    lines += _reuse_lines(held, reuse)
    cpu = [o.decide_cpu_s for o in outcomes if not o.error]
    errors = [o for o in outcomes + reuse if o.error]
    lines += [
        "",
        f"Decision CPU (4 s script, 320×240 at 15 fps, incl. one encoding per identity frame, all sessions): p50 "
        f"{np.median(cpu):.2f} s, p90 {np.percentile(cpu, 90):.2f} s over {len(cpu)} sessions. "
        f"{len(outcomes) + len(reuse)} sessions rendered in {elapsed:.0f} s wall. Errors: {len(errors)}"
        + "".join(f"\n- {o.job}: {o.error}" for o in errors[:5]),
    ]
    return "\n".join(lines)


def _match_lines(held: list[Outcome], threshold: float) -> list[str]:
    live = [o for o in held if o.job.kind == "live" and not o.error]
    genuine = [o.match for o in live if o.match is not None]
    impostor = [d for o in live for d in o.impostor.values()]
    if not genuine or not impostor:
        return ["", "Face match: not enough encoded sessions."]
    fnmr = sum(d > threshold for d in genuine)
    fmr = sum(d <= threshold for d in impostor)
    people = len({o.job.person for o in live if o.match is not None})
    impostors = max(len(o.impostor) for o in live)
    return [
        "",
        f"Face match against the registration photo (another photo of the person; {people} held-out people with two "
        f"or more photos; impostors: the first photo of each of the {impostors} other people), at the default {threshold}: "
        f"FNMR {_fmt_rate(fnmr, len(genuine))}; FMR {_fmt_rate(fmr, len(impostor))} (genuine distances "
        f"{_dist(genuine)}, impostor {_dist(impostor)}; margins {threshold - max(genuine):+.3f} / {min(impostor) - threshold:+.3f}).",
    ]


def _reuse_lines(held: list[Outcome], reuse: list[Outcome]) -> list[str]:
    """False reuse: every pair of one held-out person's independent genuine sessions, each taken in turn as the
    later submission (:func:`liveness.fingerprint.collides`); the edited copies it must still catch."""
    by_person: dict[str, list[fingerprint.Fingerprint]] = collections.defaultdict(list)
    for o in [*reuse, *(o for o in held if o.job.kind == "live")]:
        if o.print_json and not o.error:
            by_person[o.job.person].append(fingerprint.Fingerprint.from_json(o.print_json))
    pairs = [(a, b) for prints in by_person.values() for a, b in itertools.combinations(prints, 2)]
    if not pairs:
        return []
    sims = [fingerprint.similarity(a, b) for a, b in pairs]
    false = sum(fingerprint.collides(a, b) or fingerprint.collides(b, a) for a, b in pairs)
    fits = [p.fit for prints in by_person.values() for p in prints]
    copies: dict[str, list[tuple[float, bool]]] = collections.defaultdict(list)
    for o in reuse:
        for k, v in o.copies.items():
            copies[k].append((v[0], bool(v[1])))
    caught = ", ".join(
        f"{k} {sum(c for _, c in vs)}/{len(vs)} (similarity min {min(s for s, _ in vs):.3f})"
        for k, vs in copies.items()
    )
    return [
        "",
        f"False reuse: {_fmt_rate(false, len(pairs))} pairs of independent genuine sessions of the same person "
        f"({len(by_person)} held-out people, {sum(len(p) for p in by_person.values())} sessions); similarity {_dist(sims)} "
        f"(limit {fingerprint.SEEN_THRESHOLD}, margin {fingerprint.SEEN_THRESHOLD - max(sims):+.3f}); each session's fit "
        f"to its own script {_dist(fits)}. Copies, each submitted under a new script, caught: {caught or 'not measured'}.",
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
