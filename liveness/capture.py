"""Liveness capture decoding with caps checked before decoding and bounded memory while decoding.

Two upload forms: an MP4/WebM video (decoded by OpenCV's bundled FFmpeg) or a list of JPEG/PNG frames
with capture timestamps (ms). Before any pixel is decoded: the byte size, the container's magic bytes,
and the declared resolution, frame count and duration (read from the container header by OpenCV) are
checked. While decoding, a hard stop on frames and time guards against headers that lie. Frames are
sampled (≤ ``sample_fps``) and shrunk (≤ ``max_side`` px) as they are decoded, so memory is bounded by
``max_duration_ms × sample_fps`` small frames whatever was uploaded.

Every decoded frame (sampled or not) leaves a tiny grey thumbnail, so frame-integrity checks can see
duplicated or frozen frames that sampling would hide.
"""

from __future__ import annotations

import itertools
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from liveness.errors import CaptureOutOfOrder, CaptureTooLarge, CaptureUndecodable, ImageRejected, ImageTooLarge
from liveness.images import RGBImage, decode_image

THUMB_SIZE = (16, 12)  # width, height of the per-frame integrity thumbnail


@dataclass(frozen=True)
class CaptureLimits:
    """max_bytes: upload size; max_width/max_height: declared or decoded resolution; max_duration_ms and
    max_frames: declared and decoded length; sample_fps/max_side: what is kept for analysis."""

    max_bytes: int = 25 * 1024 * 1024
    max_width: int = 1920
    max_height: int = 1920
    max_duration_ms: int = 15_000
    max_frames: int = 900
    sample_fps: float = 15.0
    max_side: int = 640


@dataclass(frozen=True, eq=False)
class Capture:
    """Sampled RGB frames with their timestamps (ms from the first frame), and integrity thumbnails of
    every decoded frame (``thumb_times_ms`` alongside)."""

    frames: list[RGBImage]
    timestamps_ms: list[float]
    thumbs: list[NDArray[np.float32]] = field(default_factory=list)
    thumb_times_ms: list[float] = field(default_factory=list)
    source: str = "frames"  # "mp4", "webm" or "frames"
    declared_fps: float | None = None

    @property
    def duration_ms(self) -> float:
        return self.timestamps_ms[-1] - self.timestamps_ms[0] if self.timestamps_ms else 0.0


def _shrink(frame: RGBImage, max_side: int) -> RGBImage:
    h, w = frame.shape[:2]
    if max(h, w) <= max_side:
        return np.ascontiguousarray(frame)
    scale = max_side / float(max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.ascontiguousarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))


def thumbnail(frame: RGBImage, *, bgr: bool = False) -> NDArray[np.float32]:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if bgr else cv2.COLOR_RGB2GRAY)
    return np.asarray(cv2.resize(grey, THUMB_SIZE, interpolation=cv2.INTER_AREA), dtype=np.float32)


def sniff_container(data: bytes) -> str:
    """'mp4' or 'webm' from the magic bytes; anything else is refused before FFmpeg ever sees it."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    raise CaptureUndecodable("capture is neither an MP4 nor a WebM video")


class _Sampler:
    """Keeps at most ``fps`` frames a second, shrunk, and a thumbnail of every frame."""

    def __init__(self, limits: CaptureLimits) -> None:
        self.limits = limits
        self.frames: list[RGBImage] = []
        self.times: list[float] = []
        self.thumbs: list[NDArray[np.float32]] = []
        self.thumb_times: list[float] = []
        self._last_kept: float | None = None
        self._t0 = 0.0
        self._last_slot = 0
        self._step = 1000.0 / limits.sample_fps

    def _keep(self, t_ms: float) -> bool:
        """One frame per slot of a grid anchored at the first frame; a frame up to 30 % of a step early
        counts for the next slot, so timestamps jittered by a few ms around a 15 fps source never fall
        into the slot before and push a frame out; never two frames closer than half a step. A gap-based rule ("≥ step − 2 ms since the last kept")
        dropped ~25 % of a 15 fps upload whose timestamps jittered by ±2 ms."""
        if self._last_kept is None:
            self._t0 = t_ms
            return True
        slot = math.floor((t_ms - self._t0) / self._step + 0.3)
        if slot <= self._last_slot or t_ms - self._last_kept < 0.5 * self._step:
            return False
        self._last_slot = slot
        return True

    def add(self, frame: RGBImage, t_ms: float, *, bgr: bool = False) -> None:
        """Take one decoded frame (RGB, or OpenCV's BGR with ``bgr``): always a thumbnail, and the frame
        itself, shrunk and as RGB, only if it falls on the sampling grid (colour conversion costs)."""
        if self.thumb_times and t_ms <= self.thumb_times[-1]:
            raise CaptureOutOfOrder(
                f"frame timestamps must increase: {t_ms:.1f} ms follows {self.thumb_times[-1]:.1f} ms"
            )
        if t_ms - (self.thumb_times[0] if self.thumb_times else t_ms) > self.limits.max_duration_ms:
            raise CaptureTooLarge(f"capture runs longer than {self.limits.max_duration_ms} ms")
        if len(self.thumb_times) >= self.limits.max_frames:
            raise CaptureTooLarge(f"capture has more than {self.limits.max_frames} frames")
        h, w = frame.shape[:2]
        if w > self.limits.max_width or h > self.limits.max_height:
            raise CaptureTooLarge(f"frame is {w}×{h}; the limit is {self.limits.max_width}×{self.limits.max_height}")
        self.thumbs.append(thumbnail(frame, bgr=bgr))
        self.thumb_times.append(t_ms)
        if self._keep(t_ms):
            small = _shrink(frame, self.limits.max_side)
            if bgr:
                small = np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2RGB), dtype=np.uint8)
            self.frames.append(small)
            self.times.append(t_ms)
            self._last_kept = t_ms

    def capture(self, source: str, fps: float | None) -> Capture:
        if not self.frames:
            raise CaptureUndecodable("capture holds no decodable frame")
        t0 = self.times[0]
        return Capture(
            frames=self.frames,
            timestamps_ms=[t - t0 for t in self.times],
            thumbs=self.thumbs,
            thumb_times_ms=[t - t0 for t in self.thumb_times],
            source=source,
            declared_fps=fps,
        )


def decode_video(data: bytes, limits: CaptureLimits | None = None) -> Capture:
    """Decode an MP4/WebM upload. Raises CaptureTooLarge, CaptureUndecodable or CaptureOutOfOrder."""
    limits = limits or CaptureLimits()
    if len(data) > limits.max_bytes:
        raise CaptureTooLarge(f"capture is {len(data)} bytes; the limit is {limits.max_bytes}")
    container = sniff_container(data)
    # OpenCV's FFmpeg backend reads from a path; a private temporary file (0600) is removed at once.
    fd, path = tempfile.mkstemp(suffix=f".{container}", prefix="liveness-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return _decode_path(path, container, limits)
    finally:
        os.unlink(path)


def _decode_path(path: str, container: str, limits: CaptureLimits) -> Capture:
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise CaptureUndecodable(f"the {container} container cannot be opened")
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if width > limits.max_width or height > limits.max_height:
            raise CaptureTooLarge(
                f"video is declared {width}×{height}; the limit is {limits.max_width}×{limits.max_height}"
            )
        if width <= 0 or height <= 0:
            raise CaptureUndecodable("video declares no picture size")
        if count > limits.max_frames:
            raise CaptureTooLarge(f"video declares {count} frames; the limit is {limits.max_frames}")
        # WebM often declares no frame count (0 or negative); the hard stop below still holds.
        if fps > 0 and count > 0 and count / fps * 1000.0 > limits.max_duration_ms:
            raise CaptureTooLarge(
                f"video declares {count / fps:.1f} s; the limit is {limits.max_duration_ms / 1000:.1f} s"
            )
        sampler = _Sampler(limits)
        index = 0
        # One picture buffer refilled by every retrieve: the sampler copies out what it keeps (its thumbnail,
        # and a kept frame converted to RGB), so a fresh 0.9 MB array per frame is not needed.
        buffer: NDArray[np.uint8] | None = None
        while True:
            ok = cap.grab()
            if not ok:
                break
            pos = float(cap.get(cv2.CAP_PROP_POS_MSEC))
            # Some streams report no position; fall back to the declared frame rate.
            t_ms = pos if pos > 0 or index == 0 else (index * 1000.0 / fps if fps > 0 else float(index))
            ok, bgr = cap.retrieve(buffer)
            if not ok or bgr is None:
                raise CaptureUndecodable(f"frame {index} of the video cannot be decoded")
            if bgr.ndim != 3 or bgr.shape[2] != 3:
                raise CaptureUndecodable(f"frame {index} is not a colour picture")
            buffer = np.asarray(bgr, dtype=np.uint8)
            sampler.add(buffer, t_ms, bgr=True)
            index += 1
        return sampler.capture(container, fps if fps > 0 else None)
    finally:
        cap.release()


def decode_frames(frames: Sequence[tuple[bytes, float]], limits: CaptureLimits | None = None) -> Capture:
    """Decode a frame-list upload: (JPEG/PNG bytes, capture time in ms) in capture order."""
    limits = limits or CaptureLimits()
    if not frames:
        raise CaptureUndecodable("capture holds no frames")
    if len(frames) > limits.max_frames:
        raise CaptureTooLarge(f"capture has {len(frames)} frames; the limit is {limits.max_frames}")
    total = sum(len(b) for b, _ in frames)
    if total > limits.max_bytes:
        raise CaptureTooLarge(f"capture is {total} bytes; the limit is {limits.max_bytes}")
    times = [float(t) for _, t in frames]
    if any(not np.isfinite(t) for t in times):
        raise CaptureOutOfOrder("frame timestamps must be finite numbers")
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise CaptureOutOfOrder("frames are out of order: timestamps must strictly increase")
    if times[-1] - times[0] > limits.max_duration_ms:
        raise CaptureTooLarge(f"capture spans {times[-1] - times[0]:.0f} ms; the limit is {limits.max_duration_ms} ms")
    sampler = _Sampler(limits)
    max_pixels = limits.max_width * limits.max_height
    for i, (data, t_ms) in enumerate(frames):
        try:
            image = decode_image(data, max_pixels=max_pixels, max_bytes=limits.max_bytes)
        except ImageTooLarge as exc:
            raise CaptureTooLarge(f"frame {i}: {exc.detail}") from exc
        except ImageRejected as exc:
            raise CaptureUndecodable(f"frame {i}: {exc.detail}") from exc
        sampler.add(image, t_ms)
    return sampler.capture("frames", None)


def from_arrays(
    frames: Sequence[RGBImage], timestamps_ms: Sequence[float], limits: CaptureLimits | None = None
) -> Capture:
    """A capture from frames already in memory (the simulator's output), sampled like an upload."""
    limits = limits or CaptureLimits()
    if len(frames) != len(timestamps_ms):
        raise CaptureUndecodable("one timestamp per frame is needed")
    sampler = _Sampler(limits)
    for frame, t_ms in zip(frames, timestamps_ms, strict=True):
        sampler.add(frame, float(t_ms))
    return sampler.capture("frames", None)
