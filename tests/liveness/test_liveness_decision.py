"""The liveness decision on simulated captures and the real video, and the reuse fingerprint (R-12.3).

Captures are rendered small (320×240, 10 fps, 3 s) from one real photo by ``simulators.capture`` and
go through MP4 encoding and decoding, as an upload would.
"""

from __future__ import annotations

import pickle
import tempfile
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from liveness import fingerprint
from liveness.capture import Capture, decode_frames, decode_video, from_arrays
from liveness.decision import Reference, decide
from liveness.match import reference_encoding
from liveness.script import Script, ScriptSettings, new_script
from simulators.capture.session import Kind, SessionSpec, jpeg_frames, mp4_bytes, simulate
from tests.liveness.photos import photo
from tests.shared import fixture_path

SETTINGS = ScriptSettings(duration_ms=3000, lead_in_ms=300)
SUBJECT = "obama_1.jpg"


def script_for(seed: int) -> Script:
    return new_script(f"test-{seed}", now_ms=0, settings=SETTINGS, seed=seed)


@cache
def rendered(kind: Kind, seed: int, lighting: str = "office") -> bytes:
    spec = SessionSpec(kind=kind, lighting=lighting, camera="laptop", fps=10.0, seed=seed)
    capture = simulate(photo(SUBJECT), script_for(seed), spec)
    with tempfile.TemporaryDirectory() as folder:
        return mp4_bytes(capture, Path(folder))


@cache
def reference() -> Reference:
    return Reference(reference_encoding(photo("obama_4_480p.jpg"), "registration"), "registration")


def test_a_live_capture_passes_every_check() -> None:
    verdict = decide(decode_video(rendered("live", 11)), script_for(11), reference(), now_ms=1_000)
    assert verdict.passed, [c for c in verdict.checks if not c.passed]
    names = {c.name for c in verdict.checks}
    assert {"frame_integrity", "face_presence", "script_followed", "planarity", "blink", "colour_flash"} <= names
    assert {"one_identity", "face_match"} <= names
    assert verdict.nonce == "test-11" and verdict.encodings
    assert verdict.best_frame is not None
    best = cv2.imdecode(np.frombuffer(verdict.best_frame, np.uint8), cv2.IMREAD_COLOR)
    assert best is not None and best.shape[:2] == (240, 320)
    # The service runs decisions in a process pool: the verdict must survive pickling.
    again = pickle.loads(pickle.dumps(verdict))
    assert again.passed and again.reasons == []


def test_the_same_live_capture_fails_against_another_persons_photo() -> None:
    other = Reference(reference_encoding(photo("biden_1.jpg"), "registration"), "registration")
    verdict = decide(decode_video(rendered("live", 11)), script_for(11), other, now_ms=1_000)
    assert not verdict.passed and verdict.reasons == ["face_match"]


def test_a_genuine_recording_judged_against_a_new_script_fails() -> None:
    """A real session, replayed for the next challenge: the order or the colours are the old ones."""
    verdict = decide(decode_video(rendered("live", 11)), script_for(12), reference(), now_ms=1_000)
    assert not verdict.passed and "colour_flash" in verdict.reasons


# Each attack and the check(s) that must stop it (FACE.md: flash alone does not stop prints;
# replays and injected video are stopped by the random challenge, never by texture).
ATTACKS: list[tuple[Kind, set[str]]] = [
    ("print_still", {"planarity", "script_followed", "blink"}),
    ("print_moved", {"planarity", "script_followed"}),
    ("eye_cutout", {"planarity", "script_followed"}),
    ("screen_replay", {"colour_flash"}),
    ("video_injection", {"colour_flash"}),
]


@pytest.mark.parametrize(("kind", "expected"), ATTACKS)
def test_each_attack_fails_with_the_check_that_defeats_it(kind: Kind, expected: set[str]) -> None:
    verdict = decide(decode_video(rendered(kind, 21, "warm_lamp")), script_for(21), reference(), now_ms=1_000)
    assert not verdict.passed
    assert expected <= set(verdict.reasons), verdict.reasons
    assert "face_match" not in verdict.reasons  # the attacks use the right person's face
    assert not any(c.name == "texture" and c.gating for c in verdict.checks)


def test_the_real_video_with_a_cut_to_another_person_fails() -> None:
    clip = decode_video(fixture_path("faces", "short_hamilton_clip.mp4").read_bytes())
    verdict = decide(clip, script_for(31), now_ms=1_000)
    assert not verdict.passed
    assert {"one_identity", "script_followed"} <= set(verdict.reasons)


def test_an_expired_script_is_refused() -> None:
    from liveness.errors import ScriptExpired

    script = script_for(11)
    with pytest.raises(ScriptExpired):
        decide(decode_video(rendered("live", 11)), script, now_ms=script.expires_at_ms + 1)


def test_retimed_or_frozen_frames_fail_frame_integrity() -> None:
    live = decode_video(rendered("live", 11))
    # A 10 fps recording passed off as 30 fps: every frame three times, 33 ms apart.
    tripled = [f for f in live.frames for _ in range(3)]
    retimed = from_arrays(tripled, [i * 100.0 / 3.0 for i in range(len(tripled))])
    verdict = decide(retimed, script_for(11), now_ms=1_000)
    assert "frame_integrity" in verdict.reasons
    check = verdict.check("frame_integrity")
    assert check is not None and "repeat" in check.detail
    # A virtual camera that freezes for a second.
    frozen = list(live.frames)
    frozen[10:20] = [frozen[10]] * 10
    verdict = decide(from_arrays(frozen, live.timestamps_ms), script_for(11), now_ms=1_000)
    check = verdict.check("frame_integrity")
    assert check is not None and not check.passed and "frozen" in check.detail


def _reencoded(capture: Capture) -> Capture:
    """The same frames, shrunk to 256 px wide and recompressed as JPEG quality 50."""
    frames = []
    for frame, t in zip(capture.frames, capture.timestamps_ms, strict=True):
        small = cv2.resize(frame, (256, 192), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(small[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 50])
        assert ok
        frames.append((buf.tobytes(), t))
    return decode_frames(frames)


def _edited(capture: Capture, how: str) -> Capture:
    """A copy of a stored capture as an attacker would submit it again."""
    frames, times = list(capture.frames), list(capture.timestamps_ms)
    if how == "mirrored":
        frames = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
    elif how == "cropped":  # 10 % off every side, scaled back up
        h, w = frames[0].shape[:2]
        frames = [
            np.asarray(cv2.resize(f[h // 10 : h - h // 10, w // 10 : w - w // 10], (w, h)), dtype=np.uint8)
            for f in frames
        ]
    elif how == "retimed":  # the first 0.3 s cut off and played 5 % slower
        start = next(i for i, t in enumerate(times) if t >= 300)
        frames, times = frames[start:], [(t - times[start]) * 1.05 for t in times[start:]]
    return from_arrays(frames, times)


@pytest.mark.parametrize("how", ["reencoded", "mirrored", "cropped", "retimed"])
def test_fingerprint_catches_an_edited_copy_of_a_stored_capture(how: str) -> None:
    """R-12.3: the copy carries the stored capture's flash response, whatever nonce it comes under."""
    original = decode_video(rendered("live", 11))
    stored = fingerprint.Fingerprint.from_json(fingerprint.of_capture(original, script_for(11)).to_json())
    copy = _reencoded(original) if how == "reencoded" else _edited(original, how)
    print_ = fingerprint.of_capture(copy, script_for(12))  # submitted for a new script
    assert fingerprint.similarity(print_, stored) >= 0.85
    assert print_.fit < 0.5 < stored.fit  # it follows the old flashes, not the new script's
    assert fingerprint.seen_before(print_, [stored])


def test_independent_sessions_of_one_person_do_not_collide() -> None:
    """Same person, room, light and camera, and the same order of actions: only the script's random
    timings and colours differ — the prints must stay far apart (measured on ≥ 1,000 pairs: BENCHMARKS.md)."""
    scripts = [script_for(s) for s in range(100, 160)]
    order = [a.kind for a in scripts[0].actions]
    same_order = [s for s in scripts if [a.kind for a in s.actions] == order][:2]
    assert len(same_order) == 2
    prints = []
    for k, script in enumerate(same_order):
        spec = SessionSpec(kind="live", camera="laptop", seed=200 + k)
        capture = simulate(photo(SUBJECT), script, spec)
        prints.append(fingerprint.of_capture(decode_frames(jpeg_frames(capture)), script))
    assert fingerprint.similarity(prints[0], prints[1]) < fingerprint.SEEN_THRESHOLD - 0.15
    assert not fingerprint.seen_before(prints[1], [prints[0]]) and not fingerprint.seen_before(prints[0], [prints[1]])
    # Each follows its own script's flashes better than it resembles the other.
    assert min(p.fit for p in prints) > fingerprint.similarity(prints[0], prints[1])


def test_a_capture_that_follows_its_own_script_is_not_taken_for_a_copy() -> None:
    """The nonce binding: a response alike at the limit is a copy only if it follows the stored capture more
    than the flashes its own script drew (a copy follows those by chance only)."""
    rng = np.random.default_rng(5)
    base = rng.normal(0.0, 0.01, (40, 3))
    alike = base + rng.normal(0.0, 0.005, (40, 3))

    def printed(m: NDArray[np.float64], nonce: str, fit: float) -> fingerprint.Fingerprint:
        slots = tuple((int(a), int(b), int(c)) for a, b, c in np.round(m * 10_000))
        return fingerprint.Fingerprint(slots=slots, nonce=nonce, fit=fit)

    stored = printed(base, "old", 0.9)
    score = fingerprint.similarity(printed(alike, "new", 0.0), stored)
    assert fingerprint.SEEN_THRESHOLD <= score < 0.95
    assert fingerprint.collides(printed(alike, "new", 0.2), stored)
    assert not fingerprint.collides(printed(alike, "new", 0.97), stored)
    assert fingerprint.collides(printed(rng.normal(0.0, 0.01, (40, 3)), "old", 0.97), stored)  # its nonce again
    again = fingerprint.Fingerprint.from_json(printed(alike, "new", 0.2).to_json())
    assert again.fit == pytest.approx(0.2)


def test_a_malformed_stored_fingerprint_is_a_named_failure() -> None:
    from liveness.errors import CaptureUndecodable

    with pytest.raises(CaptureUndecodable):
        fingerprint.Fingerprint.from_json('{"version": 1}')
