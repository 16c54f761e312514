"""The NCALayer simulator over a real TLS WebSocket, as a page speaks to it: the greeting, the key dialog,
CMS signatures the service verifies against the NCA simulator's PKI (GOST and RSA, attached and detached),
the basics module, and every fault the page must put into words."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from simulators.ncalayer.server import BASICS, CANCELED, COMMON, EXPIRED, NO_KEY, WRONG_PASSWORD
from tests.api.test_eds_simulator import (  # noqa: F401  (fixtures)
    Simulator,
    nca_port,
    nca_template,
    sim,
    simulator,
)
from tests.conftest import Api
from tests.hosted.kit import NcaLayerSim, b64, ncalayer_call


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
