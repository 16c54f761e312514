"""The registration photo's face-match threshold, chosen on some people and measured on others (R-7.3b(i)):

    .venv/bin/python -m simulators.capture.heldout --out RESULTS.jsonl ...   # the liveness evaluation
    .venv/bin/python -m benchmarks.registration_threshold RESULTS.jsonl [--json out.json]

People are split once (`simulators.capture.heldout_plan.fold_of`, the split of the liveness evaluation and of
`benchmarks.document_threshold`). On the calibration people alone, the genuine pairs are their genuine
sessions of the results file against their registration photo (the median over the live frames, as the
service judges) and the impostor pairs are those sessions against the calibration people's other registration
photos, plus every photo of a calibration person against every photo of another (encoded as the service
encodes a registration photo; the photos the evaluation can use: one face, turned ≤ 32°). The threshold is
`heldout_report.choose_match` of them: the lowest FNMR with FMR ≤ 0.1 %, the middle of the tied range.

Then the held-out people's figures at that threshold (and at the code's default): sessions against their
registration photo and against every other person's photo (the liveness report's count), against the other
held-out people's photos only, and held-out photo-vs-photo pairs; FNMR and FMR with 95 % Wilson intervals,
distance distributions, margins, and how many people each rests on. Only the results file's sessions and
the photos are read: nothing is rendered, so it runs in about a minute.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

from liveness.detect import Encoding, face_distance
from liveness.match import MatchSettings
from simulators.capture.heldout_plan import CALIBRATION, HELD_OUT, fold_of, photo_paths, usable_yaw
from simulators.capture.heldout_report import TARGET_FMR, _dist, _fmt_rate, _load, choose_match
from simulators.capture.heldout_run import Outcome, _encoding

Pairs = tuple[list[float], list[float], set[str], set[str]]  # genuine, impostor, their people


def session_pairs(outcomes: list[Outcome], fold: int, impostors: set[str]) -> Pairs:
    """The fold's genuine sessions against their registration photo, and against the photos of ``impostors``."""
    live = [o for o in outcomes if o.job.fold == fold and o.job.kind == "live" and not o.error]
    genuine = [o.match for o in live if o.match is not None]
    impostor = [d for o in live for p, d in o.impostor.items() if p in impostors]
    return (
        genuine,
        impostor,
        {o.job.person for o in live if o.match is not None},
        {o.job.person for o in live if o.impostor} | {p for o in live for p in o.impostor if p in impostors},
    )


def photo_pairs(people: dict[str, list[str]]) -> Pairs:
    """Every usable photo of these people against every other: same person → genuine, else impostor."""
    encoded: list[tuple[str, Encoding]] = []
    for person, paths in sorted(people.items()):
        for path in paths:
            encoding = _encoding(path) if usable_yaw(path) is not None else None
            if encoding is not None:
                encoded.append((person, encoding))
    genuine: list[float] = []
    impostor: list[float] = []
    for (a, ea), (b, eb) in itertools.combinations(encoded, 2):
        (genuine if a == b else impostor).append(face_distance(ea, eb))
    counts = {p: sum(q == p for q, _ in encoded) for p, _ in encoded}
    return genuine, impostor, {p for p, n in counts.items() if n > 1}, set(counts)


def line(name: str, pairs: Pairs, threshold: float) -> str:
    genuine, impostor, g_people, i_people = pairs
    fnmr = sum(d > threshold for d in genuine)
    fmr = sum(d <= threshold for d in impostor)
    margins = f"{threshold - max(genuine, default=float('nan')):+.3f} / {min(impostor, default=float('nan')) - threshold:+.3f}"
    return (
        f"| {name} @ {threshold:.2f} | {len(g_people)} / {len(i_people)} | FNMR {_fmt_rate(fnmr, len(genuine))} | "
        f"FMR {_fmt_rate(fmr, len(impostor))} | {_dist(genuine)} | {_dist(impostor)} | {margins} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the JSON lines of `python -m simulators.capture.heldout --out`")
    parser.add_argument("--json", type=Path, help="write the distances here")
    parser.add_argument(
        "--compare", type=float, nargs="*", default=[0.56, 0.60], help="thresholds also shown (0.56: session 1's"
        " default; 0.60: dlib's usual operating point)"
    )  # fmt: skip
    args = parser.parse_args(argv)
    outcomes, _ = _load(args.results)
    folds = fold_of()
    people = {p: [str(x) for x in paths] for p, paths in photo_paths().items()}
    members = {fold: {p for p in people if folds[p] == fold} for fold in (CALIBRATION, HELD_OUT)}
    cal_sessions = session_pairs(outcomes, CALIBRATION, members[CALIBRATION])
    cal_photos = photo_pairs({p: people[p] for p in members[CALIBRATION]})
    threshold = choose_match(cal_sessions[0], cal_sessions[1] + cal_photos[1])
    figures: dict[str, Pairs] = {
        "calibration sessions": cal_sessions,
        "calibration photo pairs": cal_photos,
        "held-out sessions vs every other person's photo": session_pairs(outcomes, HELD_OUT, set(people)),
        "held-out sessions vs held-out people's photos": session_pairs(outcomes, HELD_OUT, members[HELD_OUT]),
        "held-out photo pairs": photo_pairs({p: people[p] for p in members[HELD_OUT]}),
    }
    current = MatchSettings().registration_threshold
    n_impostor = len(cal_sessions[1]) + len(cal_photos[1])
    print("## Registration face match: calibration and held-out people\n")
    for fold, name in ((CALIBRATION, "calibration"), (HELD_OUT, "held out")):
        print(f"- {name}: {len(members[fold])} people ({', '.join(sorted(members[fold]))})")
    print(
        f"\nThreshold chosen on the calibration people ({len(cal_sessions[0])} genuine sessions, {n_impostor} "
        f"impostor pairs; FMR ≤ {100 * TARGET_FMR:g} %, the lowest FNMR, the middle of the thresholds that give "
        f"it): **{threshold:.2f}** (in code: {current})\n"
    )
    print("| pairs | people genuine / impostor | FNMR | FMR | genuine min / p5 / p50 / max | impostor min / p5 / p50 / max | margins |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, pairs in figures.items():
        for t in dict.fromkeys((threshold, current, *args.compare)):
            print(line(name, pairs, t))
    if args.json:
        args.json.write_text(json.dumps({k: {"genuine": v[0], "impostor": v[1]} for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
