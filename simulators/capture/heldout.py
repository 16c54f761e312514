"""Liveness figures on people held out: ``python -m simulators.capture.heldout [--live N] [--attacks N]``.

The people (13 from the shared fixtures, plus Grace Hopper's US Navy portrait that matplotlib ships,
public domain) are split once, by a rule fixed in advance (``heldout_plan.fold_of``, also the document and registration
face-match thresholds' split), into calibration people
and held-out people. Every calibrated check's threshold is chosen on the calibration people's sessions by
``heldout_report.choose`` (midway between the worst genuine and the best targeted-attack score); the code's
defaults are set to those choices, and every figure is reported of the code's defaults on the held-out
people only. Sessions are rendered from every usable photo of a person under every lighting and camera,
written as MP4 and decoded again, then judged against the person's registration photo (another photo).

Printed as markdown: APCER per attack kind and BPCER with counts and 95 % Wilson intervals; each check's
score distribution per kind and its margins; FNMR/FMR of the face match against the registration photo;
false reuse between independent genuine sessions of one held-out person (``--reuse-sessions``, all pairs,
plus every held-out person's genuine decision sessions) and the copies (re-encoded, mirrored, cropped,
re-timed) it must still catch; CPU of the decision. Modules: ``heldout_plan`` (people, photos, jobs),
``heldout_run`` (one session rendered and judged), ``heldout_report`` (statistics and the report).

``--cache DIR`` keeps every rendered session (MP4) and its per-frame observations (keyed by the source of
the modules that make them), so after a change to the checks alone the whole evaluation is judged again
in minutes; a change to the detection, mesh or pose code observes again, and one to the simulator needs
an empty cache (the MP4s are keyed by the job and the script, not by the simulator's code).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

from liveness.calibrate import default_faces_dir
from simulators.capture.heldout_plan import CALIBRATION, EXTRA_FACES_ENV, HELD_OUT, Job, plan
from simulators.capture.heldout_report import _load, report
from simulators.capture.heldout_run import Outcome, _run, _use_cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.capture.heldout", description=__doc__.split("\n")[0])
    parser.add_argument("--live", type=int, default=6, help="genuine sessions per held-out person")
    parser.add_argument(
        "--calibration-live", type=int, default=None, help="genuine sessions per calibration person (default --live)"
    )
    parser.add_argument("--attacks", type=int, default=2, help="sessions per attack kind per person")
    parser.add_argument(
        "--reuse-sessions",
        type=int,
        default=0,
        help="extra genuine sessions of the first held-out person, for false reuse (all pairs)",
    )
    parser.add_argument("--jobs", "--workers", dest="workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes")  # fmt: skip
    parser.add_argument(
        "--poses",
        default=None,
        help="comma-separated own turns (degrees) each source photo is re-rendered at, e.g. 0,8,16,24,30",
    )
    parser.add_argument(
        "--extra-faces", type=Path, default=None, help="a folder of more people's photos, <person>[_<n>].png: held out"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--held-out-only", action="store_true", help="plan no calibration person's sessions")
    only.add_argument("--calibration-only", action="store_true", help="plan no held-out person's sessions")
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
    if args.extra_faces is not None:
        os.environ[EXTRA_FACES_ENV] = str(args.extra_faces.resolve())  # the spawned workers inherit it
    poses = tuple(float(p) for p in args.poses.split(",")) if args.poses else None
    jobs, reuse_jobs, yaws = plan(
        args.live, args.attacks, args.reuse_sessions, args.seed, args.calibration_live,
        poses=poses, fold=HELD_OUT if args.held_out_only else CALIBRATION if args.calibration_only else None,
    )  # fmt: skip
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
