"""The OCSP responder answers like NCA's (KZ-PKI.md §3); OpenSSL is the independent client for RSA,
authsvc.pki.gost checks the GOST responder's signatures."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from asn1crypto import ocsp, x509

from authsvc.pki import gost
from simulators.nca.app import create_app
from simulators.nca.certs import public_key_bits
from tests.simulators.nca.helpers import (
    BASE_URL,
    FIXED_TIME,
    NcaClient,
    ca_cert,
    issue,
    openssl,
    people,
    person_cert,
    revoke,
    write_pem,
)


async def openssl_status(nca: NcaClient, tmp_path: Path, cert_args: list[str]) -> str:
    index = await people(nca)
    inter = write_pem(tmp_path / "inter.pem", ca_cert(index, "rsa", "intermediate"))
    root = write_pem(tmp_path / "root.pem", ca_cert(index, "rsa", "root"))
    responder = write_pem(tmp_path / "responder.pem", ca_cert(index, "rsa", "ocsp"))
    url = str(nca.make_url("/ocsp/"))
    rc, out = await openssl(
        "ocsp", "-sha256", "-issuer", inter, *cert_args, "-url", url, "-CAfile", root,
        "-VAfile", responder, "-resp_text",
    )  # fmt: skip
    assert rc == 0, out
    assert "Response verify OK" in out
    assert "WARNING" not in out  # openssl warns when the nonce is not echoed
    return out


async def test_openssl_sees_good_then_revoked(nca: NcaClient, tmp_path: Path) -> None:
    issued = await issue(nca, algorithm="rsa")
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(issued["certificate_pem"])
    out = await openssl_status(nca, tmp_path, ["-cert", str(leaf)])
    assert ": good" in out
    assert "Next Update" not in out  # NCA sends no nextUpdate
    assert "OCSP RESPONDER" in out  # responder identified by name
    await revoke(nca, issued["serial"], reason="keyCompromise", time="2026-01-02T03:04:05+00:00")
    out = await openssl_status(nca, tmp_path, ["-cert", str(leaf)])
    assert ": revoked" in out
    assert "Revocation Time: Jan  2 03:04:05 2026 GMT" in out
    assert "Revocation Reason: keyCompromise" in out


async def test_unknown_certificate_is_answered_like_nca(nca: NcaClient, tmp_path: Path) -> None:
    out = await openssl_status(nca, tmp_path, ["-serial", "0x1234567890"])
    assert ": revoked" in out
    assert "Revocation Time: Jan  1 00:00:00 1970 GMT" in out
    assert "Revocation Reason: certificateHold" in out


def gost_request(issuer: x509.Certificate, serial: int, nonce: bytes | None) -> bytes:
    cert_id = {
        "hash_algorithm": {"algorithm": "sha256"},
        "issuer_name_hash": hashlib.sha256(issuer.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha256(public_key_bits(issuer.public_key)).digest(),
        "serial_number": serial,
    }
    tbs: dict[str, object] = {"request_list": [{"req_cert": cert_id}]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": nonce}]
    return bytes(ocsp.OCSPRequest({"tbs_request": tbs}).dump())


def get_form(issuer: x509.Certificate, serial: int, nonce: bytes) -> str:
    return base64.b64encode(gost_request(issuer, serial, nonce)).decode()


def nonce_for(n: int) -> bytes:
    # 12 varying bytes give 16 varying base64 characters, so a form with both "/" and "+" turns up
    # within a few tries whatever the certificate's (random) serial is.
    return hashlib.sha256(n.to_bytes(4, "big")).digest()[:12]


def check_gost_response(der: bytes, responder: x509.Certificate) -> ocsp.ResponseData:
    response = ocsp.OCSPResponse.load(der)
    assert response["response_status"].native == "successful"
    basic = response["response_bytes"]["response"].parsed
    assert basic["certs"][0].dump() == responder.dump()
    assert gost.verify(
        responder.public_key.dump(),
        basic["signature_algorithm"]["algorithm"].dotted,
        basic["tbs_response_data"].dump(),
        basic["signature"].native,
    )
    data: ocsp.ResponseData = basic["tbs_response_data"]
    return data


async def test_gost_responder_signs_and_echoes_the_nonce(nca: NcaClient) -> None:
    index = await people(nca)
    inter, responder = ca_cert(index, "gost2015", "intermediate"), ca_cert(index, "gost2015", "ocsp")
    assert responder.extended_key_usage_value.native == ["ocsp_signing"]
    assert responder.ocsp_no_check_value is not None
    leaf = person_cert(index, "individual", "gost2015")
    nonce = b"\x01\x02nonce-123"
    response = await nca.post(
        "/ocsp/",
        data=gost_request(inter, leaf.serial_number, nonce),
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert response.status == 200
    assert response.content_type == "application/ocsp-response"
    data = check_gost_response(await response.read(), responder)
    assert data["responder_id"].chosen.native["common_name"] == "OCSP RESPONDER"
    assert data["produced_at"].native == FIXED_TIME
    single = data["responses"][0]
    assert single["cert_status"].name == "good"
    assert single["next_update"].native is None
    assert data["response_extensions"][0]["extn_value"].native == nonce

    await revoke(nca, f"{leaf.serial_number:x}", reason="cessationOfOperation")
    # GET form (RFC 6960 appendix A.1), with a nonce whose base64 holds "/" and "+" (URL-encoded).
    nonce_n = next(
        nonce_for(n) for n in range(10_000) if {"/", "+"} <= set(get_form(inter, leaf.serial_number, nonce_for(n)))
    )
    response = await nca.get(f"/ocsp/{quote(get_form(inter, leaf.serial_number, nonce_n), safe='')}")
    data = check_gost_response(await response.read(), responder)
    status = data["responses"][0]["cert_status"]
    assert status.name == "revoked"
    assert status.chosen["revocation_reason"].native == "cessation_of_operation"
    assert status.chosen["revocation_time"].native == FIXED_TIME
    assert data["response_extensions"][0]["extn_value"].native == nonce_n


async def test_a_gost_serial_asked_of_the_rsa_ca_is_unknown(nca: NcaClient) -> None:
    index = await people(nca)
    leaf = person_cert(index, "individual", "gost2015")
    request = gost_request(ca_cert(index, "rsa", "intermediate"), leaf.serial_number, None)
    response = await nca.post("/ocsp/", data=request, headers={"Content-Type": "application/ocsp-request"})
    basic = ocsp.OCSPResponse.load(await response.read())["response_bytes"]["response"].parsed
    status = basic["tbs_response_data"]["responses"][0]["cert_status"]
    assert status.name == "revoked"
    assert status.chosen["revocation_reason"].native == "certificate_hold"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\x30\x03\x02\x01\x00", "malformed_request"),
        (b"not der at all", "malformed_request"),
    ],
)
async def test_malformed_requests_get_an_ocsp_error(nca: NcaClient, body: bytes, status: str) -> None:
    response = await nca.post("/ocsp/", data=body, headers={"Content-Type": "application/ocsp-request"})
    assert response.status == 200
    assert ocsp.OCSPResponse.load(await response.read())["response_status"].native == status


async def test_certificates_of_other_issuers_are_unauthorized(nca: NcaClient) -> None:
    # The root's own certificates are not the delegated responder's to answer for.
    request = gost_request(ca_cert(await people(nca), "gost2015", "root"), 5, None)
    response = await nca.post("/ocsp/", data=request, headers={"Content-Type": "application/ocsp-request"})
    assert ocsp.OCSPResponse.load(await response.read())["response_status"].native == "unauthorized"


async def test_wrong_content_type_is_a_problem_document(nca: NcaClient) -> None:
    response = await nca.post("/ocsp/", data=b"x", headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert (await response.json())["status"] == 415


async def test_next_update_can_be_switched_on(
    aiohttp_client: Callable[[web.Application], Awaitable[NcaClient]], state_dir: Path
) -> None:
    app = create_app(base_url=BASE_URL, state_dir=state_dir, fixed_time=FIXED_TIME, ocsp_next_update=timedelta(hours=1))
    client: NcaClient = await aiohttp_client(app)
    index = await people(client)
    leaf = person_cert(index, "ceo", "gost2015")
    request = gost_request(ca_cert(index, "gost2015", "intermediate"), leaf.serial_number, None)
    response = await client.post("/ocsp/", data=request, headers={"Content-Type": "application/ocsp-request"})
    data = check_gost_response(await response.read(), ca_cert(index, "gost2015", "ocsp"))
    assert data["responses"][0]["next_update"].native == FIXED_TIME + timedelta(hours=1)
