"""Calibrate the match thresholds: ``python -m liveness.calibrate [FACES_DIR]``.

Builds same-person and different-person distance distributions from the labelled photos in the shared
fixtures (default ``$AUTHSVC_SHARED_DIR/fixtures/faces`` or ``../shared/fixtures/faces``), each also
degraded as a live capture (downscaled, JPEG-recompressed, noisy) and as a document scan (small,
faded, guilloche overprint). Two scenarios are scored:

- registration: every live variant of photo *i* against the clean photo *j* (i ≠ j);
- document: every live variant of photo *i* against the document-scan variants of photo *j* (i ≠ j).

Pairs from the same source photo are never scored (that would flatter the genuine side). For each
scenario it prints FMR/FNMR at candidate thresholds as a markdown table and picks the threshold with
FMR ≤ 0.1 % and the lowest FNMR. With a few hundred different-person pairs, an observed FMR of 0 bounds
the true rate only at 3/N (95 %, "rule of three"): the figure printed alongside says so.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveness import augment
from liveness.detect import Encoding, FaceBox, detect_faces, encode_face, face_distance
from liveness.images import RGBImage, decode_image

# file → person; obama_and_biden.jpg holds Biden (left) and Obama (right) and a third, unnamed face.
LABELS: dict[str, str] = {
    "obama_1.jpg": "obama",
    "obama_2.jpg": "obama",
    "obama_3.jpg": "obama",
    "obama_4_480p.jpg": "obama",
    "obama_5_small.jpg": "obama",
    "obama_6_partial.jpg": "obama",
    "biden_1.jpg": "biden",
    "biden_2.jpg": "biden",
    "alex_lacamoire_1.jpg": "alex_lacamoire",
    "alex_lacamoire_2.png": "alex_lacamoire",
    "alex_lacamoire_3.jpg": "alex_lacamoire",
    "lin_manuel_miranda_1.png": "lin_manuel_miranda",
}
GROUP_PHOTO = "obama_and_biden.jpg"
GROUP_LABELS_LEFT_TO_RIGHT = ("biden", "obama")
TARGET_FMR = 0.001
CANDIDATES = tuple(round(0.40 + 0.02 * i, 2) for i in range(19))  # 0.40 … 0.76


@dataclass(frozen=True)
class Sample:
    person: str
    source: str  # the photo it came from; pairs within one source are not scored
    variant: str
    encoding: Encoding


def _portrait(image: RGBImage, box: FaceBox) -> RGBImage:
    """A passport-like crop around one face (twice the box wide), so every variant shows one face."""
    h, w = image.shape[:2]
    cx, cy = box.center
    half = box.width
    x0, x1 = max(0, round(cx - half)), min(w, round(cx + half))
    y0, y1 = max(0, round(cy - 1.2 * half)), min(h, round(cy + 1.3 * half))
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def load_portraits(faces_dir: Path) -> list[tuple[str, str, RGBImage]]:
    """(person, source, portrait) for every labelled face."""
    out: list[tuple[str, str, RGBImage]] = []
    for name, person in LABELS.items():
        image = decode_image((faces_dir / name).read_bytes())
        boxes = detect_faces(image, upsample=1)
        if boxes:
            out.append((person, name, _portrait(image, boxes[0])))
    group = decode_image((faces_dir / GROUP_PHOTO).read_bytes())
    # The unnamed third face is the right-most one; the two named faces are the two left-most.
    left_to_right = sorted(detect_faces(group, upsample=1), key=lambda b: b.left)
    for box, person in zip(left_to_right, GROUP_LABELS_LEFT_TO_RIGHT, strict=False):
        out.append((person, f"{GROUP_PHOTO}#{person}", _portrait(group, box)))
    return out


def _variants(rng: np.random.Generator) -> dict[str, Callable[[RGBImage], RGBImage]]:
    return {
        "clean": lambda im: im,
        "downscaled": lambda im: augment.downscale(im, 200),
        "jpeg25": lambda im: augment.jpeg(im, 25),
        "noise10": lambda im: augment.noise(im, rng, 10.0),
        "docscan_a": lambda im: augment.document_scan(im, rng),
        "docscan_b": lambda im: augment.document_scan(im, rng, photo_width=220),
    }


def encode_samples(portraits: list[tuple[str, str, RGBImage]], seed: int = 7) -> tuple[list[Sample], int]:
    """Encode every variant; returns the samples and how many variants had no detectable face."""
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    missed = 0
    for person, source, portrait in portraits:
        for variant, make in _variants(rng).items():
            image = make(portrait)
            upsample = 2 if variant.startswith("docscan") or variant == "downscaled" else 1
            boxes = detect_faces(image, upsample=upsample, max_side=max(image.shape[:2]))
            if not boxes:
                missed += 1
                continue
            samples.append(Sample(person, source, variant, encode_face(image, boxes[0])))
    return samples, missed


LIVE = ("clean", "downscaled", "jpeg25", "noise10")


def pair_distances(samples: list[Sample], reference_variants: tuple[str, ...]) -> tuple[list[float], list[float]]:
    """(genuine, impostor) distances: live variants against reference variants of other photos."""
    genuine: list[float] = []
    impostor: list[float] = []
    probes = [s for s in samples if s.variant in LIVE]
    refs = [s for s in samples if s.variant in reference_variants]
    for p in probes:
        for r in refs:
            if p.source == r.source:
                continue
            d = face_distance(p.encoding, r.encoding)
            (genuine if p.person == r.person else impostor).append(d)
    return genuine, impostor


def rates(genuine: list[float], impostor: list[float], threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) at ``threshold``: a distance ≤ threshold is a match."""
    fmr = sum(d <= threshold for d in impostor) / len(impostor) if impostor else 0.0
    fnmr = sum(d > threshold for d in genuine) / len(genuine) if genuine else 0.0
    return fmr, fnmr


def choose_threshold(genuine: list[float], impostor: list[float]) -> float | None:
    """The candidate with FMR ≤ 0.1 % and the lowest FNMR; among equals the lowest threshold, which keeps
    the widest margin to the different-person distances this small set has not sampled."""
    ok = [(rates(genuine, impostor, t)[1], t) for t in CANDIDATES if rates(genuine, impostor, t)[0] <= TARGET_FMR]
    return min(ok)[1] if ok else None


def report(title: str, genuine: list[float], impostor: list[float]) -> tuple[str, float | None]:
    chosen = choose_threshold(genuine, impostor)
    lines = [
        f"### {title}",
        "",
        f"{len(genuine)} same-person pairs (distance {min(genuine):.3f}–{max(genuine):.3f}), "
        f"{len(impostor)} different-person pairs ({min(impostor):.3f}–{max(impostor):.3f}).",
        "",
        "| threshold | FMR | FNMR |",
        "|---|---|---|",
    ]
    for t in CANDIDATES:
        fmr, fnmr = rates(genuine, impostor, t)
        mark = " **chosen**" if t == chosen else ""
        lines.append(f"| {t:.2f}{mark} | {fmr * 100:.2f} % | {fnmr * 100:.2f} % |")
    bound = 3.0 / len(impostor) * 100
    lines += [
        "",
        f"Chosen threshold (FMR ≤ {TARGET_FMR * 100:.1f} %, lowest FNMR, then lowest threshold): "
        + (f"**{chosen:.2f}**" if chosen is not None else "none"),
        f"(zero observed false matches in {len(impostor)} pairs bounds the true FMR only at "
        f"{bound:.2f} % with 95 % confidence; the pairs share photos, so even that is optimistic)",
        "",
    ]
    return "\n".join(lines), chosen


def default_faces_dir() -> Path:
    shared = os.environ.get("AUTHSVC_SHARED_DIR")
    if shared:
        return Path(shared) / "fixtures" / "faces"
    return Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "faces"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m liveness.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("faces_dir", nargs="?", type=Path, default=None, help="folder of labelled photos")
    parser.add_argument("--seed", type=int, default=7, help="seed for the random degradations")
    args = parser.parse_args(argv)
    faces_dir: Path = args.faces_dir or default_faces_dir()
    if not faces_dir.is_dir():
        print(f"faces folder not found: {faces_dir}", file=sys.stderr)
        return 2
    portraits = load_portraits(faces_dir)
    samples, missed = encode_samples(portraits, seed=args.seed)
    print(
        f"## Face-match calibration ({len(portraits)} faces, {len(samples)} encoded variants, "
        f"{missed} variants with no face found)\n"
    )
    for title, refs in (
        ("Live capture vs registration photo", ("clean",)),
        ("Live capture vs document photo (scan with guilloche)", ("docscan_a", "docscan_b")),
    ):
        genuine, impostor = pair_distances(samples, refs)
        text, _ = report(title, genuine, impostor)
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
