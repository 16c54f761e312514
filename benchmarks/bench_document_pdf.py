"""CPU of rasterising an identity document's one-page PDF (`authsvc.cabinet.pdf`):

    .venv/bin/python -m benchmarks.bench_document_pdf [--runs 20]

Pillow's PDF of a rendered card photo (1174 × 800 px at 300 dpi, as a scanner writes it), and the same page
declared at 30 dpi (39 × 27 inches: drawn at the 2,000 px cap). Process CPU per call, p50 and max.
"""

from __future__ import annotations

import argparse
import statistics
import time

from authsvc.cabinet.pdf import rasterise_first_page
from tests.cabinet.pdfs import card_pdf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    for name, data in (
        ("card at 300 dpi", card_pdf("faces", "biden_1.jpg")),
        ("card at 30 dpi (2,000 px cap)", card_pdf("faces", "biden_1.jpg", dpi=30.0)),
    ):
        times = []
        for _ in range(runs):
            t0 = time.process_time()
            rasterise_first_page(data)
            times.append(time.process_time() - t0)
        print(
            f"{name}: {len(data)} bytes, CPU p50 {1000 * statistics.median(times):.1f} ms, max {1000 * max(times):.1f} ms"
        )


if __name__ == "__main__":
    main()
