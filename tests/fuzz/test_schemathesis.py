"""Schema-driven fuzzing of every endpoint against a real server process (schemathesis, /openapi.json).

The server runs as the operator would run it (`authsvc serve`, SQLite, a key file). Every generated
request — valid or not — must get an answer that is not a 5xx and that matches the documented schema.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.shared import fixture_path

CA_FILES = ("nca_rsa_test.crt", "nca_gost_test.crt", "nca_gost2015_test.cer")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    work = tmp_path_factory.mktemp("fuzz")
    port = _free_port()
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_DSN": f"sqlite:///{work}/fuzz.db",
        "AUTHSVC_KEYS_FILE": str(work / "keys.json"),
        "AUTHSVC_RATE_LIMIT_REQUESTS_PER_WINDOW": "1000000",
        "AUTHSVC_SERVER_PROCESS_WORKERS": "1",
        # Trust the NCA test CAs from the shared fixtures, so /v1/eds/* is ready without the simulator.
        "AUTHSVC_PKI_ANCHOR_FILES": json.dumps([str(fixture_path("nca", "ncanode", "ca", n)) for n in CA_FILES]),
        "AUTHSVC_PKI_ANCHOR_URLS": "[]",
        "AUTHSVC_PKI_INTERMEDIATE_URLS": "[]",
        "AUTHSVC_PKI_CRL_SOURCES": "[]",
    }
    cli = [sys.executable, "-m", "authsvc.cli"]
    subprocess.run([*cli, "keys", "init"], env=env, check=True, capture_output=True, timeout=60)
    created = subprocess.run(
        [*cli, "lender", "create", "--name", "fuzz", "--json"], env=env, check=True, capture_output=True, timeout=60
    )
    key = json.loads(created.stdout)["api_key"]
    log = (work / "server.log").open("wb")
    proc = subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("server did not start: " + (work / "server.log").read_text()[-2000:]) from None
            time.sleep(0.2)
    yield base, key
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
    text = (work / "server.log").read_text()
    assert "unhandled error" not in text, text[-3000:]
    assert "Traceback" not in text


CHECK_NAMES = ",".join(c.__name__ for c in CHECKS)


def test_no_5xx_and_answers_match_the_schema(server: tuple[str, str], tmp_path: Path) -> None:
    """Every operation, positive and negative cases; schemathesis exits non-zero on any failed check."""
    base, key = server
    examples = os.environ.get("AUTHSVC_FUZZ_EXAMPLES", "30")
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            base + "/openapi.json",
            "--checks",
            CHECK_NAMES,
            "-H",
            f"Authorization: Bearer {key}",
            "--max-examples",
            examples,
            "--seed",
            "20261121",
            "--suppress-health-check",
            "all",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    tested = [line for line in result.stdout.splitlines() if "/v1/" in line or "/healthz" in line]
    assert tested, summary
