"""Capture decoding: caps before decoding, bounded sampling, and every bad input a named failure."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from liveness.capture import CaptureLimits, decode_frames, decode_video, from_arrays, sniff_container
from liveness.decision import decide_upload
from liveness.errors import CaptureOutOfOrder, CaptureTooLarge, CaptureUndecodable, ScriptExpired
from liveness.images import RGBImage
from liveness.script import ScriptSettings, new_script
from tests.liveness.photos import photo
from tests.shared import fixture_path

SCRIPT = new_script("capture-test", now_ms=0, settings=ScriptSettings(duration_ms=3000), seed=3)


def _mp4(tmp_path: Path, frames: list[RGBImage], fps: float = 10.0) -> bytes:
    path = tmp_path / "clip.mp4"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(np.ascontiguousarray(f[:, :, ::-1]))
    writer.release()
    return path.read_bytes()


def _noisy(image: RGBImage, n: int, seed: int = 0) -> list[RGBImage]:
    rng = np.random.default_rng(seed)
    return [
        np.clip(image.astype(np.int16) + rng.integers(-4, 5, image.shape), 0, 255).astype(np.uint8) for _ in range(n)
    ]


def _jpeg(image: RGBImage) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]))
    assert ok
    return buf.tobytes()


def test_the_real_video_is_sampled_and_shrunk_while_decoding() -> None:
    data = fixture_path("faces", "short_hamilton_clip.mp4").read_bytes()
    assert sniff_container(data) == "mp4"
    capture = decode_video(data, CaptureLimits(sample_fps=10.0, max_side=320))
    assert max(capture.frames[0].shape[:2]) == 320
    # 275 frames at 29.97 fps: every frame leaves a thumbnail, about one in three is kept.
    assert len(capture.thumbs) == 275
    assert 85 <= len(capture.frames) <= 95
    gaps = np.diff(capture.timestamps_ms)
    # The sampling grid is anchored at the first frame: 29.97 fps drifts against it, so where three
    # source frames (100.1 ms) have slipped a whole step, one 67 ms step keeps the grid on time.
    assert float(np.median(gaps)) == pytest.approx(100.1, abs=0.1) and gaps.min() >= 60.0
    assert capture.duration_ms == pytest.approx(9100, abs=150)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world, not a video at all",
        b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200,
        b"\x1a\x45\xdf\xa3" + b"\x01" * 64,
    ],
)
def test_not_a_video_is_undecodable(data: bytes) -> None:
    with pytest.raises(CaptureUndecodable) as info:
        decode_video(data)
    assert info.value.code == "capture_undecodable"


def test_a_truncated_file_is_undecodable(tmp_path: Path) -> None:
    data = _mp4(tmp_path, _noisy(photo("obama_5_small.jpg"), 20))
    # OpenCV writes the index ('moov') last: cut it off and nothing can be played.
    with pytest.raises(CaptureUndecodable):
        decode_video(data[: len(data) // 2])


def test_caps_declared_in_the_container_are_checked_before_decoding(tmp_path: Path) -> None:
    wide = np.zeros((64, 2048, 3), dtype=np.uint8)
    with pytest.raises(CaptureTooLarge, match="declared 2048×64"):
        decode_video(_mp4(tmp_path, [wide] * 3))
    clip = _mp4(tmp_path, _noisy(photo("obama_5_small.jpg"), 30))  # 3 s at 10 fps
    with pytest.raises(CaptureTooLarge, match="declares 30 frames"):
        decode_video(clip, CaptureLimits(max_frames=20))
    with pytest.raises(CaptureTooLarge, match=r"declares 3\.0 s"):
        decode_video(clip, CaptureLimits(max_duration_ms=2000))
    with pytest.raises(CaptureTooLarge, match="bytes"):
        decode_video(clip, CaptureLimits(max_bytes=len(clip) - 1))


def test_frames_out_of_order_are_refused() -> None:
    frame = _jpeg(photo("obama_5_small.jpg"))
    with pytest.raises(CaptureOutOfOrder) as info:
        decode_frames([(frame, 0.0), (frame, 100.0), (frame, 50.0)])
    assert info.value.code == "capture_out_of_order"
    with pytest.raises(CaptureOutOfOrder):
        decode_frames([(frame, 0.0), (frame, 0.0)])
    with pytest.raises(CaptureOutOfOrder):
        decode_frames([(frame, 0.0), (frame, float("nan"))])


def test_frame_lists_with_bad_members_are_named_failures() -> None:
    frame = _jpeg(photo("obama_5_small.jpg"))
    with pytest.raises(CaptureUndecodable, match="frame 1"):
        decode_frames([(frame, 0.0), (b"not an image", 100.0)])
    with pytest.raises(CaptureUndecodable):
        decode_frames([])
    with pytest.raises(CaptureTooLarge):
        decode_frames([(frame, 0.0), (frame, 60_000.0)])
    big = _jpeg(np.zeros((100, 2500, 3), dtype=np.uint8))
    with pytest.raises(CaptureTooLarge):
        decode_frames([(big, 0.0)])


def test_an_expired_script_fails_before_the_upload_is_decoded() -> None:
    with pytest.raises(ScriptExpired):
        decide_upload(b"garbage that would not decode", SCRIPT, now_ms=SCRIPT.expires_at_ms + 1)


def test_zero_faces_is_a_named_failure() -> None:
    wall = np.full((240, 320, 3), 180, dtype=np.uint8)
    frames = [(_jpeg(f), i * 100.0) for i, f in enumerate(_noisy(wall, 31))]
    verdict = decide_upload(frames, SCRIPT, now_ms=0)
    assert not verdict.passed and verdict.reasons[0] == "no_face"


def test_two_faces_is_a_named_failure() -> None:
    group = np.asarray(cv2.resize(photo("obama_and_biden.jpg"), (640, 427), interpolation=cv2.INTER_AREA), np.uint8)
    frames = [(_jpeg(f), i * 100.0) for i, f in enumerate(_noisy(group, 31))]
    verdict = decide_upload(frames, SCRIPT, now_ms=0)
    assert not verdict.passed and verdict.reasons[0] == "multiple_faces"


def test_a_webm_upload_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "clip.webm"
    frames = _noisy(photo("obama_5_small.jpg"), 12)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"VP80"), 10.0, (320, 240))
    for f in frames:
        writer.write(np.ascontiguousarray(f[:, :, ::-1]))
    writer.release()
    data = path.read_bytes()
    assert sniff_container(data) == "webm"
    capture = decode_video(data)
    assert len(capture.frames) == 12 and capture.duration_ms == pytest.approx(1100, abs=1)


@pytest.mark.parametrize("fps", [15.0, 30.0])
def test_frame_uploads_with_jittered_timestamps_keep_every_frame_they_need(fps: float) -> None:
    """A client's clock jitters by a few ms; a 15 fps upload must keep all its frames, a 30 fps one half."""
    rng = np.random.default_rng(3)
    step = 1000.0 / fps
    times = [k * step + float(rng.uniform(-2.0, 2.0)) for k in range(int(4000 / step))]
    times[0] = 0.0
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    capture = from_arrays([(frame + k % 7).astype(np.uint8) for k in range(len(times))], times)
    expected = len(times) if fps == 15.0 else (len(times) + 1) // 2
    assert len(capture.frames) == expected
    assert float(np.diff(capture.timestamps_ms).max()) < 1000.0 / 15.0 + 5.0


def test_kept_frames_of_a_video_are_their_own_pictures_not_the_decoders_buffer() -> None:
    """The decoder refills one buffer per frame; every kept frame (full size, so not resized) must be a copy."""
    data = fixture_path("faces", "short_hamilton_clip.mp4").read_bytes()
    capture = decode_video(data, CaptureLimits(sample_fps=10.0, max_side=1920))
    frames = capture.frames
    assert len(frames) >= 3
    assert not any(np.shares_memory(a, b) for a, b in itertools.combinations(frames, 2))
    assert any(not np.array_equal(frames[0], f) for f in frames[1:])
