"""Write one simulated capture: ``python -m simulators.capture --photo P --script S.json --kind K --out X.mp4``.

``--script`` is a script's JSON (``liveness.script.Script.to_json``); without it a fresh one is drawn
(from ``--seed``) and written next to the output as ``X.script.json``. ``--out`` ending in ``.mp4``
writes an MPEG-4 video; any other path is a folder of numbered JPEG frames plus ``timestamps.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liveness.images import decode_image
from liveness.script import Script, ScriptSettings, new_script
from simulators.capture.scenes import CAMERAS, LIGHTINGS
from simulators.capture.session import KINDS, SessionSpec, jpeg_frames, simulate, write_mp4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.capture", description=__doc__.split("\n")[0])
    parser.add_argument("--photo", type=Path, required=True, help="a JPEG/PNG photo of the subject")
    parser.add_argument("--script", type=Path, help="liveness script JSON (default: draw one)")
    parser.add_argument("--kind", choices=KINDS, default="live")
    parser.add_argument("--out", type=Path, required=True, help="X.mp4, or a folder for JPEG frames")
    parser.add_argument("--lighting", choices=sorted(LIGHTINGS), default="office")
    parser.add_argument("--camera", choices=sorted(CAMERAS), default="laptop")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--duration-ms", type=int, default=3000, help="for a drawn script")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    photo = decode_image(args.photo.read_bytes())
    if args.script:
        script = Script.from_json(args.script.read_text())
    else:
        script = new_script("simulator", settings=ScriptSettings(duration_ms=args.duration_ms), seed=args.seed)
        args.out.with_suffix(".script.json").write_text(script.to_json())
    width, height = (int(v) for v in args.size.lower().split("x"))
    spec = SessionSpec(args.kind, args.lighting, args.camera, args.fps, args.seed, (width, height))
    capture = simulate(photo, script, spec)
    if args.out.suffix.lower() == ".mp4":
        write_mp4(capture, args.out)
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        times = []
        for i, (data, t_ms) in enumerate(jpeg_frames(capture)):
            (args.out / f"{i:04d}.jpg").write_bytes(data)
            times.append(t_ms)
        (args.out / "timestamps.json").write_text(json.dumps(times))
    print(f"{args.kind}: {len(capture.frames)} frames → {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
