"""CPU cost of one whole liveness decision on one core: ``python -m benchmarks.bench_liveness``.

A 4-second (the default script) 640×480 capture at 30 fps (a live session rendered by ``simulators.capture`` from a real
photo, written as MP4) is decoded, sampled to 15 fps and judged (every check plus the face match),
as the service's process-pool worker would. Pins the process to one CPU first. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import cv2  # noqa: E402

from liveness.capture import decode_video  # noqa: E402
from liveness.decision import Reference, decide  # noqa: E402
from liveness.images import decode_image  # noqa: E402
from liveness.match import reference_encoding  # noqa: E402
from liveness.observe import observe  # noqa: E402
from liveness.script import ScriptSettings, new_script  # noqa: E402
from simulators.capture.session import SessionSpec, mp4_bytes, simulate  # noqa: E402
from tests.shared import fixture_path  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    script = new_script("bench", now_ms=0, settings=ScriptSettings(), seed=1)  # the default 4 s script
    photo = decode_image(fixture_path("faces", "obama_1.jpg").read_bytes())
    spec = SessionSpec(kind="live", lighting="office", camera="phone", fps=30.0, seed=1, size=(640, 480))
    with tempfile.TemporaryDirectory() as folder:
        data = mp4_bytes(simulate(photo, script, spec), Path(folder))
    reference = Reference(
        reference_encoding(decode_image(fixture_path("faces", "obama_4_480p.jpg").read_bytes()), "registration"),
        "registration",
    )
    decide(decode_video(data), script, reference, now_ms=0)  # load the models, warm caches
    rows: dict[str, list[float]] = {
        "decode + sample (MP4 → 15 fps)": [],
        "per-frame analysis": [],
        "whole decision": [],
    }
    passed = True
    for _ in range(args.repeats):
        t0 = time.process_time()
        capture = decode_video(data)
        t1 = time.process_time()
        observe(capture)
        t2 = time.process_time()
        verdict = decide(decode_video(data), script, reference, now_ms=0)
        t3 = time.process_time()
        passed &= verdict.passed
        rows["decode + sample (MP4 → 15 fps)"].append(t1 - t0)
        rows["per-frame analysis"].append(t2 - t1)
        rows["whole decision"].append(t3 - t2)
    print(f"## Liveness decision, 4 s 640×480 @ 30 fps MP4, one core ({len(capture.frames)} frames analysed)\n")
    print(f"| step ({args.repeats} decisions) | CPU s p50 | p90 | best |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) >= 2 else values[0]
        print(f"| {name} | {statistics.median(values):.3f} | {p90:.3f} | {min(values):.3f} |")
    print(f"\nEvery run passed: {passed}. Target: whole decision ≤ 1 s CPU at p50.")


if __name__ == "__main__":
    main()
