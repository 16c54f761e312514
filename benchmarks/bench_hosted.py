"""The hosted page in headless Chromium: page weight (bytes transferred for the page and its modules), time
from the person's press to the first prompt and to the first action prompt, upload size per capture, and
how far the painted flashes were from the script's. One run of the whole-flow browser test
(tests/hosted/test_page_browser.py), which measures them with the browser's own Resource Timing and the
page's event log; the figures land in var/test-artefacts/hosted/figures.json and are printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "var" / "test-artefacts" / "hosted" / "figures.json"


def main() -> None:
    FIGURES.unlink(missing_ok=True)
    test = "tests/hosted/test_page_browser.py::test_the_whole_flow_in_chromium"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=ROOT, env=env)
    if done.returncode != 0 or not FIGURES.exists():
        raise SystemExit(f"the browser run failed ({done.returncode}); nothing measured")
    print(json.dumps(json.loads(FIGURES.read_text()), indent=2))


if __name__ == "__main__":
    main()
