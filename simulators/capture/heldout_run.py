"""Rendering and judging one session of the held-out evaluation (``python -m simulators.capture.heldout``)."""

from __future__ import annotations

import hashlib
import pickle
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from liveness import fingerprint
from liveness.capture import Capture, decode_video, from_arrays
from liveness.decision import Reference, judge, observe_capture
from liveness.detect import Encoding, face_distance
from liveness.images import RGBImage
from liveness.match import reference_encoding
from liveness.observe import Observation
from liveness.script import Script, new_script
from simulators.capture.heldout_plan import SCRIPT, Job, _image, photo_paths, source_image
from simulators.capture.session import SessionSpec, mp4_bytes, simulate


@dataclass
class Outcome:
    job: Job
    scores: dict[str, float] = field(default_factory=dict)
    passed: dict[str, bool] = field(default_factory=dict)
    match: float | None = None
    impostor: dict[str, float] = field(default_factory=dict)  # other people's registration photos
    decide_cpu_s: float = 0.0
    print_json: str | None = None
    copies: dict[str, list[float]] = field(default_factory=dict)  # edit → [similarity, 1.0 if caught]
    error: str | None = None
    details: dict[str, str] = field(default_factory=dict)


@cache  # each live session is compared with every other person's photo: encode each photo once
def _encoding(path: str) -> Encoding | None:
    try:
        return reference_encoding(_image(path), "registration")
    except Exception:  # a photo without a usable face is simply not a reference
        return None


def _copies(capture: Capture, stored: fingerprint.Fingerprint, number: int) -> dict[str, list[float]]:
    """Edited copies of a stored capture, each fingerprinted under a new script of its own (as a copy would be
    submitted): [similarity to the stored print, 1.0 if the service takes it for the stored capture]."""
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
    out: dict[str, list[float]] = {}
    for k, (name, v) in enumerate(variants.items()):
        script = new_script(f"copy-{number}-{name}", now_ms=0, settings=SCRIPT, seed=7_000_000 + 10 * number + k)
        printed = fingerprint.of_capture(v, script)
        out[name] = [fingerprint.similarity(printed, stored), float(fingerprint.collides(printed, stored))]
    return out


def reuse_job(job: Job, with_copies: bool) -> Outcome:
    """A genuine session for the false-reuse count only: rendered and fingerprinted straight from the
    frames (no MP4 round trip, no encodings), as cheap as an honest session gets."""
    out = Outcome(job)
    try:
        script = new_script(f"reuse-{job.number}", now_ms=0, settings=SCRIPT, seed=job.seed)
        spec = SessionSpec(kind="live", lighting=job.lighting, camera=job.camera, fps=job.fps, seed=job.seed)
        simulated = simulate(source_image(job.photo, job.pose), script, spec)
        capture = from_arrays(simulated.frames, simulated.timestamps_ms)
        printed = fingerprint.of_capture(capture, script, rest_until_ms=script.actions[0].start_ms)
        out.print_json = printed.to_json()
        if with_copies:
            out.copies = _copies(capture, printed, job.number)
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
    simulated = simulate(source_image(job.photo, job.pose), script, spec)
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
            out.copies = _copies(capture, fingerprint.Fingerprint.from_json(verdict.fingerprint), job.number)
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
