"""Per-step cost of the face pipeline on one core, 640×480 frame: ``python -m benchmarks.bench_face``.

Pins the process to one CPU (and native thread pools to one thread) before the libraries load, so the
figures are what one process-pool worker costs. Prints a markdown table of medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

# Must happen before numpy/OpenCV/MediaPipe start their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from liveness.detect import detect_faces, encode_face, landmarks5  # noqa: E402
from liveness.images import RGBImage, decode_image  # noqa: E402
from liveness.mesh import mesh_landmarks  # noqa: E402
from liveness.models import dlib_models, face_mesh  # noqa: E402
from liveness.pipeline import PipelineSettings, analyze_frame  # noqa: E402
from liveness.quality import assess_photo  # noqa: E402
from tests.shared import fixture_path  # noqa: E402


def frame_640x480() -> RGBImage:
    """The 480p press photo, centre-cropped to 640×480."""
    image = decode_image(fixture_path("faces", "obama_4_480p.jpg").read_bytes())
    x0 = (image.shape[1] - 640) // 2
    return np.ascontiguousarray(image[:480, x0 : x0 + 640])


def timings_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, best) wall time; on a shared machine the best run is the truer cost of the step."""
    fn()  # warm caches
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    started = time.perf_counter()
    dlib_models()
    face_mesh()
    load_ms = (time.perf_counter() - started) * 1000.0
    frame = frame_640x480()
    box = detect_faces(frame)[0]
    steps: list[tuple[str, Callable[[], object]]] = [
        ("HOG detection, upsample 0", lambda: detect_faces(frame, upsample=0)),
        ("HOG detection, upsample 1", lambda: detect_faces(frame, upsample=1)),
        ("5-point landmarks", lambda: landmarks5(frame, box)),
        ("128-d encoding (1 jitter)", lambda: encode_face(frame, box)),
        ("Face Mesh 478 points (crop)", lambda: mesh_landmarks(frame, box)),
        ("analyze_frame, no encoding", lambda: analyze_frame(frame, PipelineSettings(encode=False))),
        ("analyze_frame, full", lambda: analyze_frame(frame)),
        ("registration quality check", lambda: assess_photo(frame)),
    ]
    print(f"One core, {frame.shape[1]}×{frame.shape[0]} frame, {args.repeats} runs per step")
    print(f"(model loading once per process: {load_ms:.0f} ms; load average {os.getloadavg()[0]:.1f})\n")
    print("| step | median | best |\n|---|---|---|")
    for name, fn in steps:
        median, best = timings_ms(fn, args.repeats)
        print(f"| {name} | {median:.1f} ms | {best:.1f} ms |")


if __name__ == "__main__":
    main()
