"""`python -m simulators.vcard`: provisioning writes a card file; the control commands say clearly
when no card answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.simulators.vcard.fixtures import REPO, free_port


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulators.vcard", *args],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_provision_writes_a_private_card_file(tmp_path: Path) -> None:
    out = tmp_path / "card.json"
    done = run("provision", "--nca-state-dir", str(tmp_path / "nca"), "--out", str(out), "--pin", "24681357")
    assert done.returncode == 0, done.stderr
    assert "СЕРІКОВ АРМАН" in done.stdout
    data = json.loads(out.read_text())
    assert data["pin"] == "24681357" and set(data["slots"]) == {"9A", "9C", "82"}
    assert out.stat().st_mode & 0o077 == 0


def test_status_without_a_running_card_says_so() -> None:
    done = run("status", "--control", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert "control channel" in done.stderr and "does not answer" in done.stderr
