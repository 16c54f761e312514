"""The NCALayer simulator over a real TLS WebSocket, as a page speaks to it: the greeting, the key dialog,
CMS signatures the service verifies against the NCA simulator's PKI (GOST and RSA, attached and detached),
the basics module, every fault the page must put into words, and its start by ``python -m simulators``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulators.ncalayer.server import BASICS, CANCELED, COMMON, EXPIRED, NO_KEY, WRONG_PASSWORD
from simulators.ncalayer.tls import kept_certificate
from tests.api.test_eds_simulator import (  # noqa: F401  (fixtures)
    Simulator,
    nca_port,
    nca_template,
    sim,
    simulator,
)
from tests.conftest import Api
from tests.hosted.kit import NcaLayerSim, b64, ncalayer_call
from tests.shared import REPO_ROOT
from tests.simulators.test_readme_loop import free_block


@pytest.fixture
def ncalayer() -> Iterator[NcaLayerSim]:
    layer = NcaLayerSim().start()
    yield layer
    layer.stop()


def cms_request(data: bytes, attached: bool) -> dict[str, Any]:
    return {
        "module": COMMON,
        "method": "createCMSSignatureFromBase64",
        "args": ["PKCS12", "SIGNATURE", b64(data), attached],
    }


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_signatures_made_through_the_socket_verify_at_the_service(
    sim: tuple[Api, Simulator],  # noqa: F811
    ncalayer: NcaLayerSim,
) -> None:
    api, nca = sim
    gost = await nca.issue()
    rsa = await nca.issue(algorithm="rsa")
    await ncalayer.add_keystore(gost, "AUTH_GOST.p12")
    await ncalayer.add_keystore(rsa, "RSA256.p12")
    greeting, (info, attached) = await ncalayer_call(
        ncalayer, {"module": COMMON, "method": "getKeyInfo", "args": ["PKCS12"]}, cms_request(b"challenge 1", True)
    )
    assert greeting == {"result": {"version": "1.4"}}
    assert info["code"] == "200" and info["responseObject"]["algorithm"] == "ECGOST3410-2015"
    assert "811201401188" in info["responseObject"]["subjectDn"]
    assert info["responseObject"]["pem"].startswith("-----BEGIN CERTIFICATE-----")
    report = await (await api.post("/v1/eds/cms/verify", {"cms": attached["responseObject"]})).json()
    assert report["valid"] is True and report["detached"] is False, report

    await ncalayer.control("POST", "/control/user", {"keystore": 1})
    _, (detached,) = await ncalayer_call(ncalayer, cms_request(b"challenge 2", False))
    body = {"cms": detached["responseObject"], "data": b64(b"challenge 2")}
    report = await (await api.post("/v1/eds/cms/verify", body)).json()
    assert report["valid"] is True and report["detached"] is True, report
    assert report["signers"][0]["signature_algorithm"] == "1.2.840.113549.1.1.11", report  # sha256WithRSA
    wrong = await (await api.post("/v1/eds/cms/verify", body | {"data": b64(b"other")})).json()
    assert wrong["valid"] is False

    _, (signed,) = await ncalayer_call(
        ncalayer,
        {
            "module": BASICS,
            "method": "sign",
            "args": {
                "allowedStorages": ["PKCS12"],
                "format": "cms",
                "data": b64(b"basics"),
                "signingParams": {"decode": "true", "encapsulate": "true", "digested": "false"},
                "signerParams": {"extKeyUsageOids": []},
                "locale": "ru",
            },
        },
    )
    assert signed["status"] is True and len(signed["body"]["result"]) == 1
    report = await (await api.post("/v1/eds/cms/verify", {"cms": signed["body"]["result"][0]})).json()
    assert report["valid"] is True, report


async def test_faults_answer_as_ncalayer_does(
    simulator: Simulator,  # noqa: F811
    ncalayer: NcaLayerSim,
) -> None:
    _, (empty,) = await ncalayer_call(ncalayer, cms_request(b"x", True))
    assert empty == {"code": "500", "message": NO_KEY}
    await ncalayer.add_keystore(await simulator.issue())
    for fault, key in (
        ("cancel", CANCELED),
        ("wrong_password", WRONG_PASSWORD),
        ("no_key", NO_KEY),
        ("expired", EXPIRED),
    ):
        await ncalayer.fault(fault)
        _, (answer,) = await ncalayer_call(ncalayer, cms_request(b"x", True))
        assert answer == {"code": "500", "message": key}, fault
    await ncalayer.fault("cancel")
    basics = {"module": BASICS, "method": "sign", "args": {"format": "cms", "data": b64(b"x")}}
    _, (cancelled,) = await ncalayer_call(ncalayer, basics)
    assert cancelled == {"status": True, "body": {}}  # how the basics module says "cancelled"
    await ncalayer.fault(None)
    await ncalayer.control("POST", "/control/user", {"password": "not-the-password"})
    _, (typo,) = await ncalayer_call(ncalayer, cms_request(b"x", True))
    assert typo["message"] == WRONG_PASSWORD  # the keystore is really opened with what the user typed
    _, (unknown,) = await ncalayer_call(ncalayer, {"module": "kz.gov.pki.knca.nothing", "method": "x"})
    assert unknown == {"success": False, "errorCode": "MODULE_NOT_FOUND"}
    await ncalayer.fault("not_running")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await ncalayer_call(ncalayer)
    log = await ncalayer.control("GET", "/control/log")
    assert {"module": COMMON, "method": "createCMSSignatureFromBase64"} in log["requests"]


async def test_python_m_simulators_starts_ncalayer_beside_the_parties(tmp_path: Path) -> None:
    """As scripts/run.sh starts them: NCALayer over TLS on its port (here base + 9) with the others, its
    certificate kept in the state folder (the same key across restarts, so a browser trusting it still does)."""
    base = free_block(9)
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "simulators", "--base-port", str(base), "--state-dir", str(tmp_path)]
    proc = await asyncio.create_subprocess_exec(
        *command, "--only", "sms-a", "ncalayer", env=env, stdout=asyncio.subprocess.PIPE, stderr=subprocess.STDOUT
    )
    cert = tmp_path / "ncalayer" / "cert.pem"
    try:
        deadline = time.monotonic() + 60
        while not cert.exists() or not _listening(base + 9):
            assert proc.returncode is None and time.monotonic() < deadline, "python -m simulators started no NCALayer"
            await asyncio.sleep(0.2)
        context = ssl.create_default_context(cadata=cert.read_text())
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"wss://127.0.0.1:{base + 9}", ssl=context) as ws:
                assert json.loads((await ws.receive(timeout=10)).data) == {"result": {"version": "1.4"}}
                await ws.send_json({"module": COMMON, "method": "getActiveTokens", "args": []})
                tokens = json.loads((await ws.receive(timeout=10)).data)
                assert tokens == {"code": "200", "message": "", "responseObject": []}
            async with http.get(f"http://127.0.0.1:{base + 2}/messages", params={"to": "+77010000000"}) as sms:
                assert sms.status == 200  # the SMS gateway beside it
    finally:
        if proc.returncode is None:
            proc.terminate()
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out.decode()
    kept = kept_certificate(tmp_path / "ncalayer")
    assert kept.cert_pem == cert.read_bytes()
    assert f"simulator ncalayer wss://127.0.0.1:{base + 9}  spki_sha256={kept.spki_sha256}" in out.decode(), out


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
