"""The liveness decision: a capture against the script it was made for, and optionally reference faces.

:func:`decide` runs every check of FACE.md ("Presentation-attack detection") and passes only if every
gating check passes: frame integrity, one face throughout, the script's head actions in order and time,
3-D parallax in the turns, a blink, the colour flashes reflected now (their colours, and their change times
alone), one identity, and a face match
against each reference given — ``face_match`` for the registration photo, ``document_match`` for the
identity document's portrait (R-7.3b(i)), each judged with its own threshold. Texture is reported but
never gates.

Input problems are exceptions with stable codes (``liveness.errors``): an expired or malformed script
(ScriptExpired, ScriptInvalid) and an unusable upload (CaptureTooLarge, CaptureUndecodable,
CaptureOutOfOrder). Everything about the person is a :class:`~liveness.verdict.Verdict`; its reasons
are check names, plus "no_face" / "multiple_faces" when the face presence check fails.

Functions here are module-level and take and return picklable data, so the service can run them in its
``ProcessPoolExecutor``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from liveness import fingerprint
from liveness.capture import Capture, CaptureLimits, decode_frames, decode_video
from liveness.checks_integrity import (
    check_frames,
    check_identity,
    check_presence,
    check_whole_face,
    condition_hint,
    presence_reason,
)
from liveness.checks_motion import check_blink, check_planarity, check_reaction, check_script
from liveness.checks_signal import check_flash, check_flash_timing, check_texture, face_signal
from liveness.detect import Encoding
from liveness.match import ReferenceKind, compare
from liveness.observe import Observation, observe
from liveness.script import Script
from liveness.verdict import CheckResult, LivenessSettings, Verdict

MIN_FACE_FRAMES = 3
# Failures of framing say it all (the rest follows from them): said first, alone on the hosted page.
FRAMING = ("no_face", "partial_face", "multiple_faces")


@dataclass(frozen=True, eq=False)
class Reference:
    """A face to match: the encoding of the registration photo (``liveness.match.reference_encoding``) or
    of the identity document's portrait (``liveness.document.document_portrait``)."""

    encoding: Encoding
    kind: ReferenceKind


References = Reference | Sequence[Reference] | None
# The check each kind of reference is judged by.
MATCH_CHECKS: dict[ReferenceKind, str] = {"registration": "face_match", "document": "document_match"}


def _references(given: References) -> list[Reference]:
    if given is None:
        return []
    return [given] if isinstance(given, Reference) else list(given)


def _best_frame(capture: Capture, observations: Sequence[Observation], quality: int) -> bytes | None:
    """JPEG of the most frontal frame with the eyes open (for the CDAO's biometric comparison)."""
    faces = [o for o in observations if o.has_face and o.eye_openness is not None]
    if not faces:
        return None
    open_level = statistics.median(o.eye_openness or 0.0 for o in faces)
    candidates = [o for o in faces if (o.eye_openness or 0.0) >= 0.85 * open_level] or faces
    best = min(candidates, key=lambda o: abs(o.yaw or 0.0) + abs(o.pitch or 0.0))
    frame = capture.frames[best.index]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes() if ok else None


def frontal_encodings(encodings: dict[int, Encoding], observations: Sequence[Observation]) -> list[Encoding]:
    """The encodings of near-frontal frames (turned faces match worse), or all if none is frontal."""
    return [e for i, e in encodings.items() if abs(observations[i].yaw or 0.0) <= 12.0] or list(encodings.values())


def _match(reference: Reference, frontal: list[Encoding], settings: LivenessSettings) -> CheckResult:
    name, threshold = MATCH_CHECKS[reference.kind], settings.match.threshold(reference.kind)
    if not frontal:
        return CheckResult(name, False, 0.0, "no live frame could be encoded")
    result = compare(reference.encoding, frontal, threshold=threshold, kind=reference.kind)
    detail = f"median distance {result.distance:.3f} to the {reference.kind} photo over {len(frontal)} frames; threshold {threshold}"
    return CheckResult(name, result.matched, result.distance, detail)


def decide(
    capture: Capture,
    script: Script,
    reference: References = None,
    settings: LivenessSettings | None = None,
    *,
    now_ms: int | None = None,
) -> Verdict:
    """Judge a decoded capture against each reference given. Raises ScriptExpired when the script's lifetime
    is over."""
    settings = settings or LivenessSettings()
    script.check_fresh(int(time.time() * 1000) if now_ms is None else now_ms)
    return judge(capture, observe_capture(capture, script, settings), script, reference, settings)


def observe_capture(capture: Capture, script: Script, settings: LivenessSettings | None = None) -> list[Observation]:
    """The per-frame observations :func:`judge` reads (the costly part of a decision: detection and mesh)."""
    settings = settings or LivenessSettings()
    # Frames past the script's end are not analysed (a capture that long fails integrity anyway).
    return observe(
        capture, until_ms=script.duration_ms + settings.max_overrun_ms, rest_until_ms=script.actions[0].start_ms
    )


def judge(
    capture: Capture,
    observations: Sequence[Observation],
    script: Script,
    reference: References = None,
    settings: LivenessSettings | None = None,
) -> Verdict:
    """Every check on the observations of ``capture`` (from :func:`observe_capture`); freshness is the caller's."""
    settings = settings or LivenessSettings()
    printed_fingerprint = fingerprint.compute(observations, script.nonce, script).to_json()
    checks = [check_frames(capture, script, settings), check_presence(observations, settings)]
    if sum(1 for o in observations if o.has_face) < MIN_FACE_FRAMES:
        # Nothing else can be judged (and no encoding is wasted).
        reasons = [presence_reason(observations, settings)] + [c.name for c in checks if not c.passed]
        return Verdict(False, checks, reasons, None, printed_fingerprint, script.nonce)
    signal = face_signal(observations)  # both flash checks read it
    checks += [
        check_whole_face(observations, settings),
        check_script(observations, script, settings),
        check_reaction(observations, script, settings),
        check_planarity(observations, script, settings),
        check_blink(observations, script, settings),
        check_flash(observations, script, settings, signal=signal),
        check_flash_timing(observations, script, settings, signal=signal),
    ]
    identity, encodings = check_identity(capture, observations, settings)
    checks.append(identity)
    frontal = frontal_encodings(encodings, observations)
    matched: list[str] = []
    for ref in _references(reference):
        checks.append(_match(ref, frontal, settings))
        if checks[-1].passed:
            matched.append(ref.kind)
    checks.append(check_texture(capture, observations, settings))
    reasons = [c.name for c in checks if c.gating and not c.passed]
    if not checks[1].passed:
        reasons.insert(0, presence_reason(observations, settings))
    if "whole_face" in reasons:  # its own reason, first: the other checks' failures follow from it
        reasons.remove("whole_face")
        reasons.insert(0, "partial_face")
    hint = condition_hint(observations, settings) if reasons else None
    if hint is not None and reasons[0] not in FRAMING:  # what to change, before what failed
        reasons.insert(0, hint)
    return Verdict(
        passed=not reasons,
        checks=checks,
        reasons=reasons,
        best_frame=_best_frame(capture, observations, settings.best_frame_quality),
        fingerprint=printed_fingerprint,
        nonce=script.nonce,
        encodings=frontal,
        matched=matched,
    )


def decide_upload(
    upload: bytes | Sequence[tuple[bytes, float]],
    script: Script,
    reference: References = None,
    settings: LivenessSettings | None = None,
    limits: CaptureLimits | None = None,
    *,
    now_ms: int | None = None,
) -> Verdict:
    """Decode an upload (MP4/WebM bytes, or a list of (JPEG/PNG bytes, ms)) and judge it.

    The script's freshness is checked before anything is decoded."""
    script.check_fresh(int(time.time() * 1000) if now_ms is None else now_ms)
    if isinstance(upload, bytes | bytearray):
        capture = decode_video(bytes(upload), limits)
    else:
        capture = decode_frames(upload, limits)
    return decide(capture, script, reference, settings, now_ms=now_ms)
