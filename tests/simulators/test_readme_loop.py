"""The README's "arman, end to end" commands, run as written by bash against real processes: every simulator
(`python -m simulators`) and the service (`authsvc serve`) on the default configuration — only the ports are
moved to free ones (the same text substitution a developer would not need), so this can run beside others.

It proves the developer loop: a rendered photo passes the default R-6.1 face check at registration, a keystore
from `python -m simulators.nca issue` signs the real EDS challenge and the registration identification completes,
a completed change_contact identification authorises the PATCH of the phone, and a log-in completes by the code
found in the SMS gateway's inbox by the service's message_id (the gateway's client_ref)."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.shared import REPO_ROOT, shared_dir


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_block(size: int) -> int:
    """A base port with base+1 … base+size all free."""
    for _ in range(200):
        base = random.randrange(20000, 60000)
        if all(_free(base + i) for i in range(1, size + 1)):
            return base
    raise RuntimeError("no free port block")


def readme_block() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text[text.index("**arman, end to end**") :]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def wait_for(url: str, deadline_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert proc.poll() is None, f"{proc.args!r} exited"
        assert time.monotonic() < deadline, f"{url} did not answer"
        time.sleep(0.3)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], dict[str, int]]]:
    base, svc = free_block(9), free_block(1) + 1  # the eight parties and NCALayer (base + 9)
    ports = {"api": svc} | {f"87{n:02d}": base + n for n in range(1, 9)}
    config = (REPO_ROOT / "configs" / "default.toml").read_text()
    for n in range(1, 9):
        config = config.replace(f"127.0.0.1:87{n:02d}", f"127.0.0.1:{base + n}")
    config = re.sub(r"(?m)^port = 8080$", f"port = {svc}", config)
    (tmp_path / "config.toml").write_text(config)
    (tmp_path / ".venv").symlink_to(REPO_ROOT / ".venv")
    env = os.environ | {
        "PYTHONPATH": str(REPO_ROOT),
        "AUTHSVC_SHARED_DIR": str(shared_dir()),
        "AUTHSVC_CONFIG": str(tmp_path / "config.toml"),
        "NCA_SIMULATOR_URL": f"http://127.0.0.1:{base + 1}",
    }
    cli = [sys.executable, "-m", "authsvc.cli"]
    for args in (["keys", "init", "--if-missing"], ["migrate"]):
        subprocess.run(cli + args, cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120)
    made = subprocess.run(
        [*cli, "lender", "create", "--name", "Demo lender", "--json"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (tmp_path / "var" / "demo-api-key").write_text(json.loads(made.stdout)["api_key"] + "\n")
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in ("simulators", "service")}
    sims = subprocess.Popen(
        [sys.executable, "-m", "simulators", "--base-port", str(base), "--state-dir", "var/simulators"],
        cwd=tmp_path,
        env=env,
        stdout=logs["simulators"],
        stderr=subprocess.STDOUT,
    )
    service = None
    try:
        wait_for(f"http://127.0.0.1:{base + 4}/population", 120, sims)
        service = subprocess.Popen(
            [*cli, "serve"], cwd=tmp_path, env=env, stdout=logs["service"], stderr=subprocess.STDOUT
        )
        wait_for(f"http://127.0.0.1:{svc}/readyz", 120, service)
        yield tmp_path, env, ports
    finally:
        for proc in (service, sims):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for log in logs.values():
            log.close()


def json_objects(text: str) -> list[dict[str, Any]]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := text.find("{", at)) != -1:
        value, at = decoder.raw_decode(text, start)
        found.append(value)
    return found


def test_the_readme_loop_runs_as_written(stack: tuple[Path, dict[str, str], dict[str, int]]) -> None:
    cwd, env, ports = stack
    script = readme_block().replace("127.0.0.1:8080", f"127.0.0.1:{ports['api']}")
    for name, port in ports.items():
        if name != "api":
            script = script.replace(f"127.0.0.1:{name}", f"127.0.0.1:{port}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, timeout=300, text=True
    )
    assert done.returncode == 0, done.stderr + (cwd / "service.log").read_text()[-3000:]
    answers = json_objects(done.stdout)  # curl prints no newline: the answers run together
    steps = [a for a in answers if "step_id" in a]
    assert [(s["method"], s["outcome"], s["identification_status"]) for s in steps] == [
        ("eds", "passed", "completed"),  # registration
        ("eds", "passed", "completed"),  # change_contact
        ("otp_sms", "passed", "completed"),  # login
    ], steps
    assert next(a for a in answers if "p12" in a)["family"] == "gost2015"
    patched = next(a for a in answers if "version" in a)
    assert patched["version"] == 2 and patched["phone"].endswith("68"), patched
    inbox = json.loads((cwd / "inbox.json").read_text())["messages"]
    assert len(inbox) == 1 and inbox[0]["message_id"].startswith("gw-a-") and "код" in inbox[0]["text"].lower()
    assert (cwd / "arman.jpg").read_bytes().startswith(b"\xff\xd8\xff")
