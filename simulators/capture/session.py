"""A whole capture: a live subject or an attack following a liveness script, frame by frame.

Kinds (FACE.md, "Presentation-attack detection"):

- ``live``: the 3-D subject performs the script (turns, blink) under the screen's flashes;
- ``print_still``: the printed photo held still in front of the camera;
- ``print_moved``: the print tilted by hand to mimic the turns, and bent (a plane or a cylinder);
- ``eye_cutout``: the print with the eyes cut out, held over a real face whose eyes blink on cue;
- ``screen_replay``: a genuine session recorded earlier (another script) played on a screen to the camera;
- ``video_injection``: that earlier genuine recording fed straight in as a virtual camera;
- ``injection_matched``: the same, from a library of recordings, one whose actions come in the new
  script's order (only its timings and flash colours differ: the nonce must catch it twice over).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal, get_args

import cv2
import numpy as np

from liveness.images import RGBImage
from liveness.script import Script, ScriptSettings, new_script
from simulators.capture.mesh3d import Pose, sample
from simulators.capture.scenes import (
    CAMERAS,
    LIGHTINGS,
    emissive,
    moire,
    printed,
    reflective,
    render_sheet,
    room,
    sheet,
)
from simulators.capture.subject import (
    Camera,
    Lighting,
    Subject,
    backdrop_lit,
    build_subject,
    camera_noise,
    eye_hole_mask,
    render_live_float,
)

Kind = Literal[
    "live", "print_still", "print_moved", "eye_cutout", "screen_replay", "video_injection", "injection_matched"
]
KINDS: Final = get_args(Kind)
ATTACKS: Final = tuple(k for k in KINDS if k != "live")


@dataclass(frozen=True)
class SessionSpec:
    kind: Kind = "live"
    lighting: str = "office"
    camera: str = "laptop"
    fps: float = 10.0
    seed: int = 0
    size: tuple[int, int] | None = None  # overrides the camera's frame size
    # Overrides where the camera puts the face (shares of the frame from its centre): (0.4, 0) is a camera
    # aimed off to one side, the face partly out of the frame, as a person can put right.
    face_offset: tuple[float, float] | None = None


@dataclass(frozen=True, eq=False)
class SimulatedCapture:
    frames: list[RGBImage]
    timestamps_ms: list[float]
    fps: float
    kind: Kind


@dataclass(frozen=True)
class Motion:
    """One performer's way of following a script: how far they move and how late they react to each cue."""

    amplitudes: tuple[float, ...]  # per action; degrees for turns, unused for a blink
    latencies_ms: tuple[float, ...]  # per action: from its cue (the window opening) to the start of the movement
    returns_ms: tuple[float, ...]  # per action: from the return cue (the window closing) to turning back
    ramp_ms: float  # how long a turn (or its return) takes
    blink_ms: float
    sway_phase: float


# Human reaction times to a visual cue. Simple visual reaction time is ~200-250 ms (Woods et al. 2015,
# "Factors influencing the latency of simple reaction time", Front. Hum. Neurosci. 9:131); a cue naming one
# of several actions is a choice reaction, slower by ~100-200 ms (Hick 1952, Q. J. Exp. Psychol. 4:11-26).
# Reaction-time distributions are ex-Gaussian (a normal part plus an exponential tail), with sigma ~30-50 ms
# and tau ~50-150 ms within a person (Whelan 2008, "Effective analysis of reaction time data", Psychol.
# Rec. 58:475-482). Each session draws its performer's mu, then each cue's latency around it.
REACTION_MU_MS: Final = (280.0, 450.0)
REACTION_SIGMA_MS: Final = 45.0
REACTION_TAU_MS: Final = (50.0, 130.0)
REACTION_CLIP_MS: Final = (180.0, 1100.0)


def _reaction_times(rng: np.random.Generator, n: int) -> tuple[float, ...]:
    mu = rng.uniform(*REACTION_MU_MS)
    tau = rng.uniform(*REACTION_TAU_MS)
    low, high = REACTION_CLIP_MS
    return tuple(
        float(np.clip(mu + rng.normal(0.0, REACTION_SIGMA_MS) + rng.exponential(tau), low, high)) for _ in range(n)
    )


def draw_motion(script: Script, rng: np.random.Generator, low: float = 19.0, high: float = 28.0) -> Motion:
    amps = tuple(float(rng.uniform(low, high)) for _ in script.actions)
    n = len(script.actions)
    return Motion(
        amplitudes=amps,
        latencies_ms=_reaction_times(rng, n),
        returns_ms=_reaction_times(rng, n),
        # A 20-30° head turn at a comfortable 100-150 °/s peak velocity.
        ramp_ms=float(rng.uniform(220, 340)),
        blink_ms=float(rng.uniform(220, 360)),
        sway_phase=float(rng.uniform(0, 2 * math.pi)),
    )


def _ramp(t: float, start: float, length: float) -> float:
    """0 before ``start``, a cosine rise to 1 over ``length`` ms, then 1."""
    if t <= start:
        return 0.0
    if t >= start + length:
        return 1.0
    return 0.5 - 0.5 * math.cos(math.pi * (t - start) / length)


def pose_at(script: Script, motion: Motion, t_ms: float) -> tuple[Pose, float]:
    """The head pose and eye closure a performer following ``script`` has at ``t_ms``: each turn starts a
    reaction time after its cue, is held, and comes back a reaction time after the return cue."""
    yaw = pitch = closure = 0.0
    actions = zip(script.actions, motion.amplitudes, motion.latencies_ms, motion.returns_ms, strict=True)
    for action, amp, latency, back in actions:
        if action.kind == "blink":
            half = motion.blink_ms / 2.0
            mid = action.start_ms + latency + half
            if abs(t_ms - mid) < half:
                closure = math.cos(math.pi / 2.0 * (t_ms - mid) / half) ** 0.5
            continue
        go = action.start_ms + latency
        b = _ramp(t_ms, go, motion.ramp_ms) * (1.0 - _ramp(t_ms, max(go, action.end_ms + back), motion.ramp_ms))
        if action.kind == "turn_left":
            yaw += amp * b
        elif action.kind == "turn_right":
            yaw -= amp * b
        else:
            pitch += 0.6 * amp * b
    sway = math.sin(2 * math.pi * t_ms / 1700.0 + motion.sway_phase)
    pose = Pose(yaw=yaw + 1.0 * sway, pitch=pitch, roll=1.2 * sway, dx=2.0 * sway, dy=1.0 * math.cos(t_ms / 500.0))
    return pose, closure


def _flash(script: Script, t_ms: float) -> tuple[float, float, float] | None:
    colour = script.colour_at(t_ms)
    return None if colour is None else (colour[0] / 255.0, colour[1] / 255.0, colour[2] / 255.0)


def timestamps(duration_ms: int, fps: float) -> list[float]:
    step = 1000.0 / fps
    return [k * step for k in range(int(duration_ms / step) + 1)]


def settings_for(spec: SessionSpec) -> tuple[Lighting, Camera]:
    camera = CAMERAS[spec.camera]
    if spec.size is not None:
        camera = replace(camera, size=spec.size)
    if spec.face_offset is not None:
        camera = replace(camera, face_offset=spec.face_offset)
    return LIGHTINGS[spec.lighting], camera


_subjects: dict[tuple[str, Camera], Subject] = {}


def subject_for(photo: RGBImage, camera: Camera) -> Subject:
    """Meshing a photo costs ~1 s; sessions of one photo and camera in a process share the result."""
    key = (hashlib.blake2b(photo.tobytes(), digest_size=16).hexdigest() + repr(photo.shape), camera)
    if key not in _subjects:
        if len(_subjects) >= 16:
            _subjects.clear()
        _subjects[key] = build_subject(photo, camera)
    return _subjects[key]


def render_live_session(photo: RGBImage, script: Script, spec: SessionSpec) -> SimulatedCapture:
    lighting, camera = settings_for(spec)
    rng = np.random.default_rng(spec.seed)
    subject = subject_for(photo, camera)
    motion = draw_motion(script, rng)
    frames, times = [], timestamps(script.duration_ms, spec.fps)
    for t in times:
        pose, closure = pose_at(script, motion, t)
        frames.append(
            camera_noise(render_live_float(subject, pose, closure, lighting, camera, _flash(script, t)), camera, rng)
        )
    return SimulatedCapture(frames, times, spec.fps, "live")


def _print_session(photo: RGBImage, script: Script, spec: SessionSpec) -> SimulatedCapture:
    lighting, camera = settings_for(spec)
    rng = np.random.default_rng(spec.seed)
    subject = subject_for(photo, camera)
    moved = spec.kind in ("print_moved", "eye_cutout")
    # The attacker tilts the sheet further than a head turns, hoping the pose estimate follows.
    motion = draw_motion(script, rng, 22.0, 38.0) if moved else draw_motion(script, rng, 0.0, 0.0)
    bend = float(rng.uniform(0.03, 0.15)) if moved else float(rng.uniform(0.0, 0.03))
    surface = sheet(camera.size, bend)
    content = printed(subject.texture)
    background = room(camera.size, rng)
    holes = eye_hole_mask(subject).astype(np.float32) / 255.0 if spec.kind == "eye_cutout" else None
    still_live = replace(motion, amplitudes=tuple(0.0 for _ in motion.amplitudes))
    frames, times = [], timestamps(script.duration_ms, spec.fps)
    tremor = rng.uniform(0, 2 * math.pi, 3)
    for t in times:
        pose, closure = pose_at(script, motion, t)
        shake = [math.sin(t / 90.0 + p) for p in tremor]
        sheet_pose = replace(
            pose, scale=0.96, dx=pose.dx + 1.5 * shake[0], dy=pose.dy + 1.5 * shake[1], roll=pose.roll + 0.8 * shake[2]
        )
        flash = _flash(script, t)
        raster, seen, cover = render_sheet(surface, content, sheet_pose, camera, subject.face_width)
        paper = reflective(seen, raster.facing_camera, raster.facing_side, lighting, flash)
        if holes is not None:
            # The wearer's own face behind the sheet: turning with it, blinking on cue.
            behind_pose, _ = pose_at(script, still_live, t)
            behind = render_live_float(
                subject, replace(sheet_pose, pitch=behind_pose.pitch), closure, lighting, camera, flash
            )
            hole = sample(np.repeat(holes[..., None], 3, axis=2), raster)[..., 0]
            alpha = cover * (1.0 - np.clip(hole, 0.0, 1.0))
            base = behind
        else:
            alpha = cover
            base = backdrop_lit(background, lighting, flash)
        frame = base * (1.0 - alpha[..., None]) + paper * alpha[..., None]
        frames.append(camera_noise(frame, camera, rng))
    return SimulatedCapture(frames, times, spec.fps, spec.kind)


def previous_session(script: Script, spec: SessionSpec) -> tuple[Script, SessionSpec]:
    """The genuine session an attacker recorded earlier: another script (same shape), other settings."""
    rng = np.random.default_rng(spec.seed + 7919)
    settings = ScriptSettings(duration_ms=script.duration_ms, min_turn_deg=script.min_turn_deg)
    order = [a.kind for a in script.actions]
    for attempt in range(200):
        old = new_script(
            f"old-{script.nonce}",
            now_ms=script.issued_at_ms - 86_400_000,
            settings=settings,
            seed=spec.seed + 104729 + attempt,
        )
        if spec.kind != "injection_matched" or [a.kind for a in old.actions] == order:
            break
    lighting = str(rng.choice(sorted(LIGHTINGS)))
    camera = str(rng.choice(sorted(CAMERAS)))
    return old, replace(spec, kind="live", lighting=lighting, camera=camera, seed=spec.seed + 31)


def _replayed(photo: RGBImage, script: Script, spec: SessionSpec) -> SimulatedCapture:
    old_script, old_spec = previous_session(script, spec)
    lighting, camera = settings_for(spec)
    recording = render_live_session(photo, old_script, replace(old_spec, size=camera.size, fps=spec.fps))
    times = timestamps(script.duration_ms, spec.fps)
    if spec.kind in ("video_injection", "injection_matched"):
        frames = [recording.frames[min(i, len(recording.frames) - 1)] for i in range(len(times))]
        return SimulatedCapture(frames, times, spec.fps, spec.kind)
    rng = np.random.default_rng(spec.seed)
    surface = sheet(camera.size, 0.0)
    background = room(camera.size, rng)
    pattern = moire(camera.size, rng)
    face_width = camera.size[0] * camera.iod_fraction * 2.2
    tremor = rng.uniform(0, 2 * math.pi, 3)
    frames = []
    for i, t in enumerate(times):
        shown = recording.frames[min(i, len(recording.frames) - 1)].astype(np.float32)
        bezel = shown.copy()
        cv2.rectangle(bezel, (0, 0), (camera.size[0] - 1, camera.size[1] - 1), (12.0, 12.0, 12.0), 6)
        shake = [math.sin(t / 110.0 + p) for p in tremor]
        pose = Pose(yaw=2.0 * shake[2], scale=0.93, dx=1.5 * shake[0], dy=1.5 * shake[1], roll=0.6 * shake[2])
        raster, seen, cover = render_sheet(surface, bezel, pose, camera, face_width)
        flash = _flash(script, t)
        screen = emissive(seen, raster.facing_camera, lighting, flash, pattern)
        frame = backdrop_lit(background, lighting, flash) * (1.0 - cover[..., None]) + screen * cover[..., None]
        frames.append(camera_noise(np.asarray(frame, dtype=np.float32), camera, rng))
    return SimulatedCapture(frames, times, spec.fps, spec.kind)


def simulate(photo: RGBImage, script: Script, spec: SessionSpec) -> SimulatedCapture:
    """Render the capture of ``spec.kind`` for ``script`` from one photo of the subject."""
    if spec.kind == "live":
        return render_live_session(photo, script, spec)
    if spec.kind in ("print_still", "print_moved", "eye_cutout"):
        return _print_session(photo, script, spec)
    if spec.kind in ("screen_replay", "video_injection", "injection_matched"):
        return _replayed(photo, script, spec)
    raise ValueError(f"unknown capture kind {spec.kind!r}")


def write_mp4(capture: SimulatedCapture, path: Path) -> None:
    """MPEG-4 Part 2 ('mp4v'), which every OpenCV build can write and read."""
    height, width = capture.frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), capture.fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"cannot open a video writer for {path}")
    try:
        for frame in capture.frames:
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    finally:
        writer.release()


def mp4_bytes(capture: SimulatedCapture, directory: Path) -> bytes:
    path = directory / f"capture-{id(capture)}.mp4"
    try:
        write_mp4(capture, path)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


def jpeg_frames(capture: SimulatedCapture, quality: int = 85) -> list[tuple[bytes, float]]:
    """The capture as a frame list (JPEG bytes, ms), the other accepted upload form."""
    out = []
    for frame, t in zip(capture.frames, capture.timestamps_ms, strict=True):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise ValueError("JPEG encoding failed")
        out.append((buf.tobytes(), t))
    return out
