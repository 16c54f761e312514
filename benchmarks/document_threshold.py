"""The identity document's match threshold, chosen on some people and measured on others (R-7.3b(i)):

    .venv/bin/python -m benchmarks.document_threshold [--cards 2] [--json out.json]

Every photo of the 14 people of the shared fixtures (faces/, faces-more/) and Grace Hopper's public-domain
portrait that matplotlib ships is rendered onto simulated ID-card fronts (`simulators.capture.document`,
photographed by a phone: perspective, blur, JPEG; ``--cards`` per photo, each with its own seed and portrait
size) and its portrait read as the service reads it (`liveness.document.document_portrait`). A card is
compared with every *other* photo of the people of its own set, encoded as the service encodes a face
(`liveness.match.reference_encoding`): same person → a genuine pair, another person → an impostor pair.

People are split by person, never by photo, into a calibration set and a held-out set — the one split every
calibration of the project uses (`simulators.capture.heldout_plan.fold_of`: every second person in name order,
fixed before any score was seen). The threshold is chosen on the calibration set alone (`heldout_report.choose_match`: of
the thresholds with FMR ≤ 0.1 % there, those with the lowest FNMR, and of them the middle one), then FNMR
and FMR are counted on the held-out set, with 95 % Wilson intervals; impostor pairs across the sets are
counted apart and never used to choose.

The live side here is a still photo of the person, not frames of a capture (a liveness step takes the median
over its frames' distances, which is steadier than one photo): a bound for the document match alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveness.detect import Encoding, face_distance
from liveness.document import DocumentRejected, document_portrait
from liveness.errors import LivenessError
from liveness.match import MatchSettings
from simulators.capture.document import id_card
from simulators.capture.heldout_plan import CALIBRATION, _image, fold_of, photo_paths
from simulators.capture.heldout_report import TARGET_FMR, choose_match, wilson
from simulators.capture.heldout_run import _encoding

PORTRAIT_SHARES = (0.3, 0.24)  # of the card's width: a card filling the picture, and one a little further off


@dataclass(frozen=True)
class Card:
    person: str
    photo: str
    variant: int
    encoding: Encoding


def sets_of(people: dict[str, list[Path]]) -> dict[str, dict[str, list[str]]]:
    """{"calibration": …, "held out": …}, each person → their photos, by the project's one split."""
    sets: dict[str, dict[str, list[str]]] = {"calibration": {}, "held out": {}}
    folds = fold_of()
    for person, paths in sorted(people.items()):
        sets["calibration" if folds[person] == CALIBRATION else "held out"][person] = [str(p) for p in paths]
    return sets


def cards_of(person: str, photo: str, count: int) -> tuple[list[Card], list[str]]:
    """The cards rendered from ``photo`` whose portrait the service would accept, and why others were not."""
    cards, refused = [], []
    for variant in range(count):
        rng = np.random.default_rng(1000 + variant)
        try:
            card = id_card(_image(photo), rng, portrait_share=PORTRAIT_SHARES[variant % len(PORTRAIT_SHARES)])
            cards.append(Card(person, photo, variant, document_portrait(card).encoding))
        except DocumentRejected as exc:
            refused.append(f"{Path(photo).name}#{variant}: {exc.code}")
        except LivenessError as exc:  # no face in the source photo to put on a card
            refused.append(f"{Path(photo).name}#{variant}: {exc.code}")
    return cards, refused


def pairs(cards: list[Card], probes: dict[str, tuple[str, Encoding]]) -> tuple[list[float], list[float]]:
    """(genuine distances, impostor distances) of every card against every other photo of its set."""
    genuine: list[float] = []
    impostor: list[float] = []
    for card in cards:
        for photo, (person, encoding) in probes.items():
            if photo == card.photo:
                continue
            (genuine if person == card.person else impostor).append(face_distance(card.encoding, encoding))
    return genuine, impostor


def rate(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {100 * k / max(n, 1):.1f} % (95 % {100 * lo:.1f}–{100 * hi:.1f} %)"


def spread(values: list[float]) -> str:
    if not values:
        return "—"
    q = np.percentile(values, [0, 5, 50, 95, 100])
    return " / ".join(f"{v:.3f}" for v in q)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cards", type=int, default=2, help="cards rendered per photo")
    parser.add_argument("--json", type=Path, help="write the distances here")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    sets = sets_of(photo_paths())
    figures: dict[str, tuple[list[float], list[float], list[str], int, int]] = {}
    read: dict[str, tuple[list[Card], dict[str, tuple[str, Encoding]]]] = {}
    for name, members in sets.items():
        cards: list[Card] = []
        refused: list[str] = []
        probes: dict[str, tuple[str, Encoding]] = {}
        for person, photos in members.items():
            for photo in photos:
                made, why = cards_of(person, photo, args.cards)
                cards += made
                refused += why
                encoding = _encoding(photo)
                if encoding is not None:
                    probes[photo] = (person, encoding)
        genuine, impostor = pairs(cards, probes)
        figures[name] = (genuine, impostor, refused, len(cards), len(probes))
        read[name] = (cards, probes)
    # Impostors across the sets (a card of one set, a photo of the other), never used to choose: the hard
    # p05/p06 pair is among them.
    across = (
        pairs(read["calibration"][0], read["held out"][1])[1] + pairs(read["held out"][0], read["calibration"][1])[1]
    )
    figures["across the sets"] = ([], across, [], 0, 0)
    threshold = choose_match(figures["calibration"][0], figures["calibration"][1])
    current = MatchSettings().document_threshold
    print(f"## Document match: calibration and held-out people ({time.perf_counter() - t0:.0f} s)\n")
    for name, members in sets.items():
        genuine, impostor, refused, n_cards, n_probes = figures[name]
        with_pairs = sorted({p for p in members if len(members[p]) > 1})
        print(
            f"- {name}: {len(members)} people ({', '.join(sorted(members))}); {len(with_pairs)} with two photos "
            f"or more; {n_cards} cards read, {len(refused)} refused ({'; '.join(refused) or 'none'}); "
            f"{n_probes} probe photos"
        )
    print(
        f"\nThreshold chosen on the calibration people (FMR ≤ {100 * TARGET_FMR:g} %, the lowest FNMR, the middle "
        f"of the thresholds that give it): **{threshold:.2f}**\n"
    )
    print("| set | pairs | distances min / p5 / p50 / p95 / max | FNMR | FMR |")
    print("|---|---|---|---|---|")
    for name in figures:
        genuine, impostor, *_ = figures[name]
        for t, label in ((threshold, f"{threshold:.2f} (chosen)"), (current, f"{current:.2f} (before)")):
            fnmr = sum(d > t for d in genuine)
            fmr = sum(d <= t for d in impostor)
            print(
                f"| {name} @ {label} | {len(genuine)} genuine, {len(impostor)} impostor | "
                f"genuine {spread(genuine)}; impostor {spread(impostor)} | {rate(fnmr, len(genuine))} | "
                f"{rate(fmr, len(impostor))} |"
            )
    held_genuine, held_impostor, *_ = figures["held out"]
    print(
        f"\nHeld-out margins at {threshold:.2f}: worst genuine {max(held_genuine, default=float('nan')):.3f}, "
        f"closest impostor {min(held_impostor, default=float('nan')):.3f}; across the sets, closest impostor "
        f"{min(across, default=float('nan')):.3f}"
    )
    if args.json:
        args.json.write_text(json.dumps({k: {"genuine": v[0], "impostor": v[1]} for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
