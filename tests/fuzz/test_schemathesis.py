"""Schema-driven fuzzing of every endpoint against a real server process (schemathesis, /openapi.json).

The server runs as the operator would run it (`authsvc serve`, a key file), on SQLite and on PostgreSQL.
Every generated request — valid or not — must get an answer that is not a 5xx, that matches the documented
schema, and whose errors are problem+json (never text/plain); a request the schema accepts is accepted, or
refused only with a code its operation documents in x-refused-beyond-schema (tests/fuzz/hooks.py); the
server logs no database error.
"""

from __future__ import annotations

import os
import subprocess
import sys
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

from tests.conftest import BACKENDS, reset_database, run_sync
from tests.fuzz import hooks
from tests.fuzz.hooks import schema_valid_requests_are_accepted
from tests.served import serve

ROOT = Path(__file__).resolve().parents[2]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(params=BACKENDS, scope="module")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    work = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        dsn = f"sqlite:///{work}/fuzz.db"
    else:
        dsn = request.getfixturevalue("pg_dsn")
        run_sync(reset_database(dsn))
    with serve(work, dsn) as served:
        yield served.base, served.key
        text = served.log_text()
    assert "unhandled error" not in text, text[-3000:]
    assert "database error" not in text, text[-3000:]
    assert "Traceback" not in text


CHECK_NAMES = ",".join([*(c.__name__ for c in CHECKS), schema_valid_requests_are_accepted.__name__])


def test_no_5xx_and_answers_match_the_schema(server: tuple[str, str], tmp_path: Path) -> None:
    """Every operation, positive and negative cases; schemathesis exits non-zero on any failed check."""
    base, key = server
    examples = os.environ.get("AUTHSVC_FUZZ_EXAMPLES", "15")  # per backend: both runs in about two minutes
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
        env={
            **os.environ,
            "NO_COLOR": "1",
            "SCHEMATHESIS_HOOKS": hooks.__name__,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),  # to import the hooks
        },
    )
    summary = result.stdout[-6000:]
    assert result.returncode == 0, summary
    tested = [line for line in result.stdout.splitlines() if "/v1/" in line or "/healthz" in line]
    assert tested, summary
