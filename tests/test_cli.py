"""The `authsvc` command as an operator runs it: keys init, migrate, lender create, audit verify, config explain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_DSN": f"sqlite:///{tmp_path}/a.db",
        "AUTHSVC_KEYS_FILE": str(tmp_path / "k" / "keys.json"),
    }
    env["AUTHSVC_AUDIT_WITNESS_FILE"] = str(tmp_path / "k" / "witness.json")
    env["AUTHSVC_AUDIT_HEAD_LOG"] = str(tmp_path / "k" / "heads.jsonl")
    return subprocess.run(
        [sys.executable, "-m", "authsvc.cli", *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_operator_commands(tmp_path: Path) -> None:
    assert run(tmp_path, "keys", "init").returncode == 0
    again = run(tmp_path, "keys", "init")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run(tmp_path, "keys", "init", "--if-missing").returncode == 0
    from authsvc.store.migrate import head_revisions

    assert f"revision {','.join(sorted(head_revisions()))}" in run(tmp_path, "migrate").stdout
    created = run(tmp_path, "lender", "create", "--name", "Demo", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    assert key.startswith("ak_")
    verified = run(tmp_path, "audit", "verify")
    assert verified.returncode == 0 and "intact: 1 entries" in verified.stdout
    explained = run(tmp_path, "config", "explain")
    assert "AUTHSVC_DATABASE_DSN" in explained.stdout and "AUTHSVC_RATE_LIMIT_WINDOW_S" in explained.stdout


def test_audit_verify_exits_1_and_names_the_tampering(tmp_path: Path) -> None:
    import sqlite3

    run(tmp_path, "keys", "init")
    for name in ("A", "B", "C"):
        run(tmp_path, "lender", "create", "--name", name)
    with sqlite3.connect(tmp_path / "a.db") as db:
        db.execute("UPDATE audit_log SET details = '{}' WHERE seq = 2")
    out = run(tmp_path, "audit", "verify")
    assert out.returncode == 1
    assert "TAMPERED (altered at 2)" in out.stdout


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    out = run(tmp_path, "lender", "create", "--name", "X")
    assert out.returncode == 2 and "keys init" in out.stderr
