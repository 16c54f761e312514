"""`python -m simulators.nca issue` and `… sign`, the README's commands: a keystore issued by the running
simulator, a real identification challenge signed with it, and the service's EDS step passing (R-7.1)."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from simulators.nca.__main__ import tools
from tests.api.test_eds_simulator import (  # noqa: F401  (fixtures)
    Simulator,
    challenge,
    nca_port,
    nca_template,
    open_identification,
    register,
    sim,
    simulator,
    submit,
)
from tests.conftest import Api, individual
from tests.shared import REPO_ROOT

ARMAN = "900101300126"  # the population's happy path; his name comes from simulators/population.py


async def run_tool(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(tools, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("kind", ["gost", "rsa"])
async def test_issue_then_sign_a_challenge_passes_the_eds_step(
    sim: tuple[Api, Simulator],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    api, nca = sim
    p12 = tmp_path / "key.p12"
    code, out, err = await run_tool(
        capsys, "issue", "--url", nca.url, "--iin", ARMAN, "--kind", kind, "--out", str(p12)
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["family"] == ("gost2015" if kind == "gost" else "rsa") and summary["password"] == "Qwerty12"
    assert p12.stat().st_size > 500

    client = await register(api, individual(iin=ARMAN, surname="Серіков", first_name="Арман", patronymic="Қайратұлы"))
    ident = await open_identification(api, client)
    data = await challenge(api, ident)
    detached = kind == "rsa"  # both of NCALayer's forms: attached (GOST here), detached (RSA here)
    argv = ["sign", "--p12", str(p12), "--data-b64", data] + (["--detached"] if detached else [])
    code, out, err = await run_tool(capsys, *argv)
    assert code == 0, err
    status, step = await submit(api, ident, out.strip(), data if detached else None)
    assert (status, step["outcome"], step["reasons"]) == (200, "passed", []), step
    assert step["details"]["revocation"]["status"] == "good"


async def test_sign_a_file_and_verify_it_stand_alone(
    sim: tuple[Api, Simulator],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    api, nca = sim
    p12 = tmp_path / "key.p12"
    code, _, err = await run_tool(
        capsys,
        "issue",
        "--url",
        nca.url,
        "--name",
        "ТЕСТОВ ТЕСТ",
        "--iin",
        "811201401188",
        "--kind",
        "rsa",
        "--password",
        "s3cret",
        "--out",
        str(p12),
    )
    assert code == 0, err
    contract = tmp_path / "contract.txt"
    contract.write_text("Договор микрокредита № 1")
    code, out, err = await run_tool(capsys, "sign", "--p12", str(p12), "--password", "s3cret", "--file", str(contract))
    assert code == 0, err
    resp = await api.post("/v1/eds/cms/verify", {"cms": out.strip()})
    report: dict[str, Any] = await resp.json()
    assert resp.status == 200 and report["valid"] is True, report
    assert report["signers"][0]["certificate"]["subject"]["iin"] == "811201401188"
    assert base64.b64decode(out.strip())  # plain base64 of DER, what NCALayer hands over


async def test_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await run_tool(capsys, "issue", "--iin", "811201401188", "--out", str(tmp_path / "k.p12"))
    assert code == 2 and "not in the simulated population" in err
    code, _, err = await run_tool(capsys, "issue", "--url", "http://127.0.0.1:9", "--out", str(tmp_path / "k.p12"))
    assert code == 2 and "cannot reach the NCA simulator" in err
    code, _, err = await run_tool(capsys, "sign", "--p12", str(tmp_path / "none.p12"), "--data-b64", "AA==")
    assert code == 2 and "cannot open" in err
    code, _, err = await run_tool(capsys, "sign", "--p12", str(tmp_path / "none.p12"), "--data-b64", "%%")
    assert code == 2 and "not valid base64" in err


def test_the_module_command_runs() -> None:
    """The documented entry point itself (a subprocess), not only the function behind it."""
    proc = subprocess.run(
        [sys.executable, "-m", "simulators.nca", "sign", "--help"], cwd=REPO_ROOT, capture_output=True, timeout=60
    )
    assert proc.returncode == 0 and b"--detached" in proc.stdout
