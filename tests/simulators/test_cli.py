"""``python -m simulators.<name> --port N`` starts a working simulator, as the README and demo use it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.parties.simkit import refused_url
from tests.shared import REPO_ROOT, fixture_path


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("sms", ["--name", "gw-b"]),
        ("telco", []),
        ("cdao", ["--matcher", "hash", "--faces-dir", str(fixture_path("faces"))]),
        ("bureau", []),
        ("bank", []),
        ("afc", []),
    ],
)
def test_module_serves_the_fault_admin(module: str, extra: list[str]) -> None:
    port = int(refused_url().rsplit(":", 1)[1].strip("/"))
    proc = subprocess.Popen(
        [sys.executable, "-m", f"simulators.{module}", "--port", str(port), *extra],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/faults", timeout=1) as resp:
                    assert json.load(resp) == {"faults": []}
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "simulator did not start"
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
