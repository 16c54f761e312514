"""Shared by the virtual-card and PC/SC tests: one provisioned card per session (NCA state in a
temporary directory), a private pcscd with the vpcd reader, and the emulator as a real process
controlled over its HTTP control channel."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from simulators.vcard.profile import CardProfile
from simulators.vcard.provision import provision

REPO = Path(__file__).resolve().parents[3]
NCA_URL = "http://127.0.0.1:8701"


def provisioned_card(nca_state: Path) -> CardProfile:
    return provision(nca_state, nca_url=NCA_URL)


def free_port_pair() -> int:
    """A port p with p and p+1 free (vpcd listens on both, one per reader slot)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port >= 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no two adjacent free ports")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator:
    """`python -m simulators.vcard run` as a child process."""

    def __init__(self, card_file: Path, vpcd_port: int, log: Path) -> None:
        self.control_port = free_port()
        self.url = f"http://127.0.0.1:{self.control_port}"
        env = dict(os.environ, PYTHONPATH=str(REPO))
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "simulators.vcard", "run", "--card", str(card_file),
                 "--vpcd-port", str(vpcd_port), "--control-port", str(self.control_port)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        self.wait_connected()

    def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method="GET" if path == "/status" else "POST")
        with urllib.request.urlopen(req, timeout=20) as response:
            result: dict[str, Any] = json.load(response)
            return result

    def wait_connected(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the emulator exited")
            try:
                if self.call("/status")["connected"]:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the emulator did not connect to vpcd")

    def insert(self) -> None:
        self.call("/insert")

    def remove(self, during: str | None = None) -> None:
        self.call("/remove", None if during is None else {"during": during})

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
