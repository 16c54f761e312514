"""A simulated capture as a Y4M file, the fake camera Chromium plays
(``--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE.y4m``).

Chromium starts the file from its first frame when a page opens the camera, at the header's frame rate,
and loops it. A page that counts down before recording (the hosted page waits ``lead_ms`` after the first
frame) sees the lead-in first; the capture's frame k then arrives k / fps after the recording starts.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from liveness.images import RGBImage
from simulators.capture.session import SimulatedCapture


def _i420(frame: RGBImage) -> bytes:
    return bytes(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes())


def write_y4m(capture: SimulatedCapture, path: Path, *, lead_ms: int = 0, tail_ms: int = 1000) -> None:
    """Write ``capture`` preceded by ``lead_ms`` of its first frame and followed by ``tail_ms`` of its last
    (so a late stop does not wrap round to the start); replaced atomically, as a camera switching over."""
    height, width = capture.frames[0].shape[:2]
    fps = round(capture.fps)
    lead = [capture.frames[0]] * round(lead_ms * fps / 1000)
    tail = [capture.frames[-1]] * round(tail_ms * fps / 1000)
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in [*lead, *capture.frames, *tail]:
            out.write(b"FRAME\n" + _i420(frame))
    os.replace(partial, path)


def blank_y4m(path: Path, width: int = 320, height: int = 240, fps: int = 10, seconds: int = 1) -> None:
    """A grey placeholder of the same shape, for the browser to find at start."""
    grey = np.full((height, width, 3), 128, np.uint8)
    write_y4m(SimulatedCapture([grey] * (fps * seconds), [], float(fps), "live"), path, tail_ms=0)
