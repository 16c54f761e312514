"""The kiosk agent end to end: the real service (aiohttp on a port) verifying against the NCA test-PKI
simulator, a SoftHSM2 token provisioned with a simulator-issued RSA certificate, and `authsvc-kiosk` run as
its own process with the PIN on a file descriptor (R-7.1, R-2.9, R-10.1). The agent only speaks HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from authsvc.api.state import ENGINE
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store.schema import identifications
from drivers.kiosk.messages import OUTCOMES
from drivers.pkcs11.provision import SOFTHSM_MODULE
from tests.api.test_eds_simulator import IIN, Simulator, open_identification, register, sim_api
from tests.conftest import Api, b64, individual
from tests.drivers.pkcs11.softhsm import PIN, ec_pair, provision, softhsm_home
from tests.shared import REPO_ROOT


@pytest.fixture(scope="module", autouse=True)
def _softhsm() -> None:
    softhsm_home()


def token_for(nca: Simulator, iin: str = IIN, surname: str = "Жумабаев", first_name: str = "Ерлан") -> str:
    made = provision("--nca-url", nca.url, "--iin", iin, "--surname", surname, "--first-name", first_name)
    return made.label


async def kiosk(
    api: Api, tmp_path: Path, *args: str, pin: str | None = PIN, lang: str = "en", env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """Run `python -m drivers.kiosk` against the test server; the PIN goes in on an inherited pipe
    (``env``: variables to set for the agent's process only)."""
    key_file = tmp_path / "api-key"
    key_file.write_text(api.key)
    service = str(api.client.make_url("/")).rstrip("/")
    read, write = os.pipe()
    os.write(write, f"{pin or ''}\n".encode())
    os.close(write)
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), **(env or {}))
    command, *rest = args
    cmd = [sys.executable, "-m", "drivers.kiosk", "--json", "--lang", lang, command, "--service", service]
    cmd += ["--api-key-file", str(key_file), "--pin-fd", str(read), *rest]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        pass_fds=(read,),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    os.close(read)
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"code": None, "stdout": out.decode(), "stderr": err.decode()}
    return proc.returncode or 0, result, err.decode()


def token_args(label: str) -> list[str]:
    return ["--module", SOFTHSM_MODULE, "--token-label", label, "--wait", "2"]


@pytest.fixture
async def setup(
    aiohttp_client: Any, keys: LocalKeyStore, simulator: Simulator, tmp_path: Path
) -> tuple[Api, Simulator]:
    dsn = f"sqlite:///{tmp_path}/authsvc.db"
    return await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path), simulator


async def test_identification_at_the_kiosk_passes(setup: tuple[Api, Simulator], tmp_path: Path) -> None:
    api, nca = setup
    label = token_for(nca)
    client = await register(api, individual())
    ident = await open_identification(api, client, "login")
    status, result, err = await kiosk(api, tmp_path, "identify", *token_args(label), "--identification", ident)
    assert (status, result["code"]) == (0, "passed"), err
    assert "IIN 811201401188" in err  # the operator saw whose token it is
    state = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert [(s["method"], s["outcome"]) for s in state["steps"]] == [("eds", "passed")]

    # An identification past its expiry: the kiosk says to start a new one (and asks for no challenge).
    async with api.app[ENGINE].begin() as conn:
        past = datetime.now(UTC) - timedelta(minutes=1)
        await conn.execute(update(identifications).where(identifications.c.id == ident).values(expires_at=past))
    status, result, err = await kiosk(
        api, tmp_path, "identify", *token_args(label), "--identification", ident, lang="ru"
    )
    assert status == OUTCOMES["challenge_expired"].exit_status, err
    assert "Начните новую идентификацию" in result["message"]

    # The agent can open the identification itself.
    status, result, err = await kiosk(api, tmp_path, "identify", *token_args(label), "--client", client)
    assert (status, result["code"]) == (0, "passed"), err


async def test_kiosk_failures_have_sentences_and_exit_codes(setup: tuple[Api, Simulator], tmp_path: Path) -> None:
    api, nca = setup
    mine = token_for(nca)
    other = token_for(nca, iin="900101300126", surname="СЕРІКОВ", first_name="АРМАН")
    client = await register(api, individual())
    ident = await open_identification(api, client, "login")

    status, result, err = await kiosk(
        api, tmp_path, "identify", *token_args(mine), "--identification", ident, pin="0000", lang="ru"
    )
    assert status == OUTCOMES["pin_incorrect"].exit_status and "Неверный PIN-код" in result["message"]
    assert "попыток" in result["message"]  # SoftHSM2 raises "count low" after a failure: tries are shown

    status, result, _ = await kiosk(api, tmp_path, "identify", *token_args(other), "--identification", ident, lang="kk")
    assert status == OUTCOMES["other_person"].exit_status and "iin_mismatch" in result["detail"]
    assert "басқа адамға" in result["message"]

    status, result, _ = await kiosk(api, tmp_path, "identify", *token_args("no-such-token"), "--identification", ident)
    assert status == OUTCOMES["no_token"].exit_status and "insert their token" in result["message"]

    status, result, _ = await kiosk(
        api, tmp_path, "identify", "--module", str(tmp_path / "none.so"), "--identification", ident
    )
    assert status == OUTCOMES["module_missing"].exit_status

    key_file = tmp_path / "api-key"
    key_file.write_text(api.key)
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.kiosk", "--json", "identify", "--service", "http://127.0.0.1:9",
        "--api-key-file", str(key_file), "--pin-fd", "0", *token_args(mine), "--identification", ident,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )  # fmt: skip
    out, _ = await done.communicate(f"{PIN}\n".encode())
    assert done.returncode == OUTCOMES["service_unavailable"].exit_status
    assert "does not answer" in json.loads(out.decode().splitlines()[-1])["message"]

    # After all that, the client's own token still identifies them on the same identification.
    status, result, err = await kiosk(api, tmp_path, "identify", *token_args(mine), "--identification", ident)
    assert (status, result["code"]) == (0, "passed"), err


async def test_contract_signed_at_the_kiosk_checks_later(setup: tuple[Api, Simulator], tmp_path: Path) -> None:
    api, nca = setup
    label = token_for(nca)
    client = await register(api, individual())
    document = "Договор микрокредита № 7: 150 000 тенге на 30 дней".encode()
    resp = await api.post("/v1/contracts", {"client_id": client, "document": b64(document), "title": "loan 7"})
    assert resp.status == 201, await resp.text()
    contract = (await resp.json())["id"]
    (tmp_path / "contract.txt").write_bytes(document)
    (tmp_path / "other.txt").write_bytes(document + b" (changed)")

    status, result, _ = await kiosk(
        api,
        tmp_path,
        "sign-contract",
        *token_args(label),
        "--contract",
        contract,
        "--document",
        str(tmp_path / "other.txt"),
    )
    assert status == OUTCOMES["document_mismatch"].exit_status

    status, result, err = await kiosk(
        api,
        tmp_path,
        "sign-contract",
        *token_args(label),
        "--contract",
        contract,
        "--document",
        str(tmp_path / "contract.txt"),
    )
    assert (status, result["code"]) == (0, "contract_signed"), err
    report = await (await api.get(f"/v1/contracts/{contract}")).json()
    assert report["valid"] is True and [s["method"] for s in report["signatures"]] == ["eds"]


async def test_gost_key_file_signs_in_software(setup: tuple[Api, Simulator], tmp_path: Path) -> None:
    api, nca = setup
    issued = await nca.issue(algorithm="gost2015", password="Secret-42")
    p12 = tmp_path / "gost.p12"
    p12.write_bytes(base64.b64decode(issued["p12"]))
    client = await register(api, individual())
    ident = await open_identification(api, client, "login")
    status, result, _ = await kiosk(
        api, tmp_path, "identify", "--p12", str(p12), "--identification", ident, pin="wrong"
    )
    assert status == OUTCOMES["keystore_unreadable"].exit_status
    status, result, err = await kiosk(
        api, tmp_path, "identify", "--p12", str(p12), "--identification", ident, pin="Secret-42"
    )
    assert (status, result["code"]) == (0, "passed"), err


async def test_an_expired_certificate_is_named_before_the_pin_or_the_service(tmp_path: Path) -> None:
    cert, key = ec_pair(tmp_path, days=0)  # valid until yesterday
    label = provision("--pem", str(cert), str(key)).label
    (tmp_path / "api-key").write_text("unused")
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "drivers.kiosk", "--json", "--lang", "kk", "identify",
        "--service", "http://127.0.0.1:9", "--api-key-file", str(tmp_path / "api-key"),
        *token_args(label), "--identification", "any",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )  # fmt: skip
    out, err = await done.communicate()
    result = json.loads(out.decode().splitlines()[-1])
    assert done.returncode == OUTCOMES["certificate_expired"].exit_status, err
    assert "ҰКО-дан жаңа ЭЦҚ" in result["message"]  # no PIN was asked (stdin is empty), no service reached
