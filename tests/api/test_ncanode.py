"""/v1/ncanode/*: NCANode 3.x's requests answered in NCANode's shapes (KZ-PKI.md §4).

Request and response shapes are NCANode's published OpenAPI document,
https://github.com/ncanode-kz/NCANode/blob/master/openapi.yml (``/x509/info``, ``/cms/verify``, ``/xml/verify``;
schemas ``VerifyRequest``, ``CertificateInfo``, ``CertificateSubject``, ``CmsSignerInfo``, ``TspInfo``). Its
``/x509/info`` example sends the NCA test certificate that is also the shared fixture
``nca/ncanode/certs/CERT_INDIVIDUAL_from_groovy.cert.pem``, base64 of its PEM text.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from typing import Any

import aiohttp
from cryptography import x509 as pyca_x509

from authsvc.api.state import VERIFIER
from authsvc.pki.ncanode import X509InfoRequest, revocation_of, timestamp, unwrap_pem
from simulators.nca.keys import digest_by_oid
from simulators.nca.signer import KeyPair, sign_cms_timestamped, sign_xml
from tests.api.test_eds_fixtures import eds_api  # noqa: F401 - fixture
from tests.api.test_eds_simulator import (  # noqa: F401 - fixtures
    Simulator,
    nca_port,
    nca_template,
    pair_of,
    sim,
    simulator,
)
from tests.conftest import Api
from tests.shared import fixture_path

DOC_CERT = fixture_path("nca", "ncanode", "certs", "CERT_INDIVIDUAL_from_groovy.cert.pem")
# The first line of the openapi.yml /x509/info example (``certs[0]``): the same certificate, base64 of the PEM.
DOC_EXAMPLE_START = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUYrekNDQStPZ0F3SUJBZ0lVUWVSY3lLQk1jRmxqNWMxbmFZU0trMDJPcnZVd0RRWUpLb1pJaHZjTkFRRUwK"
ARMAN = "900101300126"  # IIN digit 7 = 3: a man born in the 1900s


def openssl_pubkey() -> str:
    args = ["openssl", "x509", "-noout", "-pubkey", "-in", str(DOC_CERT)]
    return subprocess.run(args, capture_output=True, check=True, text=True).stdout


def documented_x509_request() -> dict[str, Any]:
    certs = [base64.b64encode(DOC_CERT.read_bytes()).decode()]
    assert certs[0].startswith(DOC_EXAMPLE_START)
    return {"revocationCheck": [], "certs": certs}


def test_requests_translate_to_verifier_arguments() -> None:
    request = X509InfoRequest.model_validate({"revocationCheck": ["CRL", "OCSP"], "certs": ["x"], "unknown": 1})
    assert revocation_of(request) == ["crl", "ocsp"]
    assert revocation_of(X509InfoRequest.model_validate({"certs": ["x"]})) == []  # NCANode: off by default
    pem = DOC_CERT.read_text()
    assert unwrap_pem(base64.b64encode(pem.encode()).decode()) == pem
    assert unwrap_pem("MIIF+zCC") == "MIIF+zCC" and unwrap_pem(pem) == pem
    assert unwrap_pem("LS0tLS1!!") == "LS0tLS1!!"  # not base64: left for the decoder to refuse


def test_dates_are_written_as_ncanode_writes_them() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    assert timestamp(datetime(2022, 5, 2, 8, 38, 13, 123456, tzinfo=UTC)) == "2022-05-02T08:38:13.123+00:00"
    almaty = timezone(timedelta(hours=5))
    assert timestamp(datetime(2022, 5, 2, 13, 38, 13, tzinfo=almaty)) == "2022-05-02T08:38:13.000+00:00"
    assert timestamp(None) is None


async def test_documented_x509_info_request(eds_api: Api) -> None:  # noqa: F811 - the fixture imported above
    resp = await eds_api.post("/v1/ncanode/x509/info", documented_x509_request())
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {"status", "message", "valid", "signers"} and (body["status"], body["message"]) == (200, "OK")
    (info,) = body["signers"]
    cert = pyca_x509.load_pem_x509_certificate(DOC_CERT.read_bytes())
    assert info["serialNumber"] == format(cert.serial_number, "x") == "41e45cc8a04c705963e5cd6769848a934d8eaef5"
    assert info["notBefore"] == "2022-01-18T04:38:50.000+00:00" and info["notAfter"] == "2023-01-18T04:38:50.000+00:00"
    assert info["keyUsage"] == "SIGN" and info["signAlg"] == "SHA256WITHRSA" and info["keyUser"] == ["INDIVIDUAL"]
    assert info["subject"] == {
        "commonName": "ТЕСТОВ ТЕСТ",
        "lastName": "ТЕСТОВИЧ",
        "surName": "ТЕСТОВ",
        "gender": "NONE",  # NCA's test IIN 123456789011 has no sex digit (7)
        "iin": "123456789011",
        "country": "KZ",
        "dn": info["subject"]["dn"],
    }
    assert "SERIALNUMBER=IIN123456789011" in info["subject"]["dn"]
    assert info["issuer"]["commonName"] == "ҰКО 3.0 (RSA TEST)"
    # publicKey and signature against OpenSSL and pyca, not against our own parser.
    pubkey_pem = openssl_pubkey()
    assert info["publicKey"] == "".join(line for line in pubkey_pem.splitlines() if not line.startswith("-----"))
    assert base64.b64decode(info["signature"]) == cert.signature
    # The certificate expired in 2023: NCANode judges it invalid at the current time too; we say why.
    assert body["valid"] is False and info["valid"] is False and "expired" in info["reasons"]
    assert info["revocations"] == []  # revocationCheck [] asks for none


async def test_bad_requests_are_problems(eds_api: Api) -> None:  # noqa: F811 - the fixture imported above
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"certs": []}, 422, "validation_failed"),
        ({"certs": ["not a certificate"]}, 422, "bad_encoding"),
        ({"certs": [base64.b64encode(b"x" * 50).decode()]}, 422, "bad_encoding"),
        ({"certs": ["MIIB"], "revocationCheck": ["OCSP", "DNS"]}, 422, "validation_failed"),
    ]
    for body, status, code in cases:
        resp = await eds_api.post("/v1/ncanode/x509/info", body)
        problem = await resp.json()
        assert (resp.status, resp.content_type) == (status, "application/problem+json"), problem
        assert problem["code"] == code or (code == "validation_failed" and problem["status"] == 422), problem
    resp = await eds_api.client.post("/v1/ncanode/cms/verify", json={"cms": "MIIB"})
    assert resp.status == 401  # authenticated like every /v1 call


async def test_cms_verify_with_time_stamp_and_revocation(sim: tuple[Api, Simulator]) -> None:  # noqa: F811
    api, nca = sim
    pair = pair_of(await nca.issue(iin=ARMAN, surname="Серіков", first_name="Арман", patronymic="Қайратұлы"))
    async with aiohttp.ClientSession() as http:
        der = await sign_cms_timestamped(http, f"{nca.url}/tsp/", pair, b"lol kek")
    body = {"cms": base64.b64encode(der).decode(), "revocationCheck": ["OCSP", "CRL"]}
    resp = await api.post("/v1/ncanode/cms/verify", body)
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["valid"] is True and answer["status"] == 200
    (signer,) = answer["signers"]
    leaf, *cas = signer["certificates"]
    assert leaf["valid"] is True and "reasons" not in leaf
    assert leaf["subject"]["iin"] == ARMAN and leaf["subject"]["gender"] == "MALE"
    assert leaf["subject"]["surName"] == "СЕРІКОВ" and leaf["subject"]["lastName"] == "ҚАЙРАТҰЛЫ"
    assert leaf["signAlg"] == "GOST3410-2015-512" and leaf["keyUser"] == ["IDENTIFICATION_CON", "INDIVIDUAL"]
    assert leaf["revocations"] and all(
        r["by"] in ("OCSP", "CRL") and r["revoked"] is False for r in leaf["revocations"]
    )
    assert cas and all(c["valid"] for c in cas)
    tsp = signer["tsp"]
    signature = _signature_of(der)
    assert tsp["hash"] == digest_by_oid("1.2.398.3.10.1.3.3", signature).hex()  # the imprint covers the signature
    assert tsp["tspHashAlgorithm"] == "GOST3411-2015-512" and tsp["policy"] == "1.2.398.3.3.2.6.4"
    assert tsp["genTime"].endswith("+00:00") and tsp["serialNumber"]

    # Our own /v1 answer carries the same new facts (publicKey, signature, gender, the time stamp's hash).
    ours = await (await api.post("/v1/eds/cms/verify", {"cms": body["cms"]})).json()
    cert = ours["signers"][0]["certificate"]
    assert cert["public_key_b64"] == leaf["publicKey"] and cert["signature_b64"] == leaf["signature"]
    assert cert["subject"]["gender"] == "male" and ours["signers"][0]["timestamp"]["details"]["hash"] == tsp["hash"]


async def test_detached_cms_and_xml(sim: tuple[Api, Simulator]) -> None:  # noqa: F811 - the fixture imported above
    api, nca = sim
    rsa: KeyPair = pair_of(await nca.issue(algorithm="rsa"))
    from simulators.nca.signer import sign_cms

    detached = base64.b64encode(sign_cms(rsa, b"lol kek", detached=True)).decode()
    resp = await api.post("/v1/ncanode/cms/verify", {"cms": detached, "data": "bG9sIGtlaw=="})  # the docs' data
    answer = await resp.json()
    assert resp.status == 200 and answer["valid"] is True, answer
    assert answer["signers"][0]["certificates"][0]["signAlg"] == "SHA256WITHRSA"
    resp = await api.post("/v1/ncanode/cms/verify", {"cms": detached, "data": base64.b64encode(b"other").decode()})
    tampered = await resp.json()
    assert resp.status == 200 and tampered["valid"] is False and tampered["signers"][0]["certificates"][0]["reasons"]

    xml = sign_xml(rsa, b'<?xml version="1.0" encoding="utf-8"?><a><b>test</b></a>')  # the docs' /xml/sign example
    resp = await api.post("/v1/ncanode/xml/verify", {"xml": xml.decode(), "revocationCheck": ["OCSP"]})
    answer = await resp.json()
    assert resp.status == 200 and answer["valid"] is True, answer
    (info,) = answer["signers"]
    assert info["subject"]["iin"] == "811201401188" and info["subject"]["gender"] == "FEMALE"
    assert [r["by"] for r in info["revocations"]] == ["OCSP"]
    assert hashlib.sha256(base64.b64decode(info["publicKey"])).digest()  # base64 of the SPKI DER


def _signature_of(der: bytes) -> bytes:
    from asn1crypto import cms

    return bytes(cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native)


async def test_a_revoked_certificate_as_ncanode_reports_it(sim: tuple[Api, Simulator]) -> None:  # noqa: F811
    api, nca = sim
    issued = await nca.issue(algorithm="rsa")
    await nca.revoke(issued["serial"])
    cert = base64.b64encode(issued["certificate_pem"].encode()).decode()  # base64 of the PEM, as NCANode's docs
    for check, by in ((["OCSP"], "OCSP"), (["CRL"], "CRL")):
        if by == "CRL":
            cache = api.app[VERIFIER].crl_cache
            assert cache is not None
            await cache.refresh()  # the background refresher would pick the revocation up within crl_refresh_s
        resp = await api.post("/v1/ncanode/x509/info", {"certs": [cert], "revocationCheck": check})
        answer = await resp.json()
        assert resp.status == 200 and answer["valid"] is False, answer
        (info,) = answer["signers"]
        (revocation,) = info["revocations"]
        assert (revocation["revoked"], revocation["by"]) == (True, by), revocation
        assert revocation["revocationTime"].endswith("+00:00") and "revoked" in info["reasons"]
    unchecked = await (await api.post("/v1/ncanode/x509/info", {"certs": [cert]})).json()
    assert unchecked["valid"] is True and unchecked["signers"][0]["revocations"] == []  # NCANode: off by default
