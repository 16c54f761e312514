"""POST /v1/eds/{cms,xml}/verify and /v1/eds/x509/info over every real NCA test-PKI fixture, each judged at
the time its README pins (test mode). Expected verdicts are written out per file; revocation is covered
with the fixtures' CRLs in tests/pki/test_service.py (no live responder answers for 2020-2022 material)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from authsvc.crypto.local_keys import LocalKeyStore
from tests.conftest import Api, make_settings, start_api
from tests.shared import fixture_path

AT_2004 = "2022-06-01T00:00:00Z"
AT_VALID_SIGN_2004 = "2021-06-01T00:00:00Z"
AT_2015 = "2022-08-01T00:00:00Z"
AT_DANIKARIK = "2020-06-01T00:00:00Z"
NCA_CAS = [
    ("ncanode", "ca", "nca_rsa_test.crt"),
    ("ncanode", "ca", "nca_gost_test.crt"),
    ("ncanode", "ca", "nca_gost2015_test.cer"),
]


def pki_settings(**over: Any) -> dict[str, Any]:
    """Trust the three NCA test CAs (their roots are not shipped) and nothing from the network."""
    base: dict[str, Any] = {
        "anchor_files": [str(fixture_path("nca", *ca)) for ca in NCA_CAS],
        "anchor_urls": [],
        "intermediate_urls": [],
        "crl_sources": [],
        "test_mode_time_allowed": True,
    }
    return base | over


@pytest.fixture
async def eds_api(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> Api:
    settings = make_settings(dsn, pki=pki_settings(), server={"process_workers": 1})
    return await start_api(aiohttp_client, settings, keys)


def b64(*parts: str) -> str:
    """A fixture as a JSON caller sends it: PEM as is, DER as base64."""
    data = fixture_path("nca", *parts).read_bytes()
    return data.decode() if data.lstrip().startswith(b"-----BEGIN") else base64.b64encode(data).decode()


DANIKARIK = [
    (folder, state, name)
    for folder, state, names in (
        (
            "personal",
            "active",
            ("AUTH_RSA256_b2c70a9ff7a5dc59de0ccc3c0ddde3437cc1f12d", "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9"),
        ),
        (
            "personal",
            "revoked",
            ("AUTH_RSA256_60d5a0346dd52fb5f3b9148e6cfbcd6cf323d119", "RSA256_346a7e57c2995259140b6fc375b6ff3bba7e852f"),
        ),
        (
            "organization",
            "active",
            (
                "AUTH_RSA256_d682726b55b3e62600ea8fe1c74e75fc96f47790",
                "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b",
            ),
        ),
        (
            "organization",
            "revoked",
            (
                "AUTH_RSA256_7d6d313ac5bf7367a2a69f28607a8deb80dd3ba9",
                "GOSTKNCA_c372b7809440fcb681051bbc89ea2f089fd2fe16",
            ),
        ),
    )
    for name in names
]

# (file, validation time, detached content, [(signer IIN, reasons)]) — NCANode answered some of these with 500.
CMS_CASES = [
    ("SIGNED_CMS_ONE_SIGNER.p7s", AT_VALID_SIGN_2004, None, [("123456789011", [])]),
    ("SIGNED_CMS_ONE_SIGNER.p7s", AT_2004, None, [("123456789011", ["expired"])]),
    ("SIGNED_CMS.p7s", AT_2015, None, [("123456789012", []), ("123456789011", ["expired"])]),
    ("SIGNED_CMS.p7s", AT_VALID_SIGN_2004, None, [("123456789012", ["not_yet_valid"]), ("123456789011", [])]),
    (
        "SIGNED_DETACHED_CMS.p7s",
        AT_2015,
        "detached_content_test123.bin",
        [("123456789012", []), ("123456789011", ["expired"])],
    ),
    (
        "SIGNED_DETACHED_CMS.p7s",
        AT_2015,
        None,
        [("123456789012", ["detached_content_missing"]), ("123456789011", ["detached_content_missing"])],
    ),
]


async def _post(api: Api, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await api.post(path, {"revocation_check": [], **body})
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def test_every_fixture_gets_its_verdict(eds_api: Api) -> None:
    """One app per database for all fixtures (the worker pool starts once); each assertion names its file."""
    for name, at, detached, expected in CMS_CASES:
        body: dict[str, Any] = {"cms": b64("ncanode", "cms", name), "validation_time": at}
        if detached:
            body["data"] = b64("ncanode", "cms", detached)
        result = await _post(eds_api, "/v1/eds/cms/verify", body)
        got = [(s["certificate"]["subject"]["iin"], s["reasons"]) for s in result["signers"]]
        assert got == expected, (name, at)
        assert result["valid"] == all(not r for _, r in expected), name
    one = await _post(
        eds_api,
        "/v1/eds/cms/verify",
        {"cms": b64("ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s"), "validation_time": AT_VALID_SIGN_2004},
    )
    signer = one["signers"][0]
    assert signer["signing_time"] == "2022-09-28T14:40:30Z" and signer["time_source"] == "given"
    assert signer["certificate"]["key_usage_class"] in ("SIGN", "AUTH") and signer["certificate"]["not_after"]
    assert [c["subject"]["common_name"] for c in signer["chain"]] == [
        signer["certificate"]["subject"]["common_name"],
        "ҰКО 3.0 (RSA TEST)",
    ]
    assert signer["revocations"] == [] and signer["certificate"]["issuer"]["common_name"] == "ҰКО 3.0 (RSA TEST)"

    for folder, state, name in DANIKARIK:
        where = ("danikarik-ncanode-go", folder, state)
        cms = await _post(
            eds_api,
            "/v1/eds/cms/verify",
            {"cms": fixture_path("nca", *where, name + ".cms").read_text(), "validation_time": AT_DANIKARIK},
        )
        assert cms["valid"] and base64.b64decode(b64("danikarik-ncanode-go", "cms_content_asdasd.bin")) == b"asdasd", (
            name
        )
        holder = cms["signers"][0]["certificate"]
        assert holder["subject"]["iin"] == "123456789011", name
        assert holder["subject_type"] == ("legal_entity" if folder == "organization" else "individual"), name
        if folder == "organization":
            assert holder["subject"]["bin"] == "123456789021" and "ceo" in holder["roles"], name
        xml = await _post(
            eds_api,
            "/v1/eds/xml/verify",
            {"xml": fixture_path("nca", *where, name + ".xml").read_text(), "validation_time": AT_DANIKARIK},
        )
        assert xml["valid"] and len(xml["signatures"]) == 1, name
        pem = fixture_path("nca", *where, name + ".cert.pem").read_text()
        info = await _post(eds_api, "/v1/eds/x509/info", {"certificate": pem, "validation_time": AT_DANIKARIK})
        assert info["valid"] and info["certificate"]["serial_number"] == holder["serial_number"], name
        late = await _post(
            eds_api,
            "/v1/eds/cms/verify",
            {"cms": fixture_path("nca", *where, name + ".cms").read_text(), "validation_time": "2030-01-01T00:00:00Z"},
        )
        assert not late["valid"] and late["signers"][0]["reasons"] == ["expired"], name

    xml_one = fixture_path("nca", "ncanode", "xml", "XML_SIGNED_VALID_STRING.xml").read_text()
    xml_two = fixture_path("nca", "ncanode", "xml", "XML_SIGNED_VALID_STRING_TWO_SIGNERS.xml").read_text()
    for doc, at, reasons in (
        (xml_one, AT_VALID_SIGN_2004, [[]]),
        (xml_one, AT_2004, [["expired"]]),
        (xml_two, AT_2015, [["expired"], []]),  # document order: RSA first, then GOST-2015 (verified first)
        (xml_two, AT_VALID_SIGN_2004, [[], ["not_yet_valid"]]),
    ):
        result = await _post(eds_api, "/v1/eds/xml/verify", {"xml": doc, "validation_time": at})
        assert [s["reasons"] for s in result["signatures"]] == reasons, at

    certs = [
        (("ncanode", "certs", "individual_valid_sign_2004_rsa.cer"), AT_2004, "individual", "SIGN"),
        (("ncanode", "certs", "individual_valid_sign_2004_rsa_auth.cer"), AT_2004, "individual", "AUTH"),
        (("ncanode", "certs", "ceo_valid_sign_2004_gost.cer"), AT_2004, "legal_entity", "SIGN"),
        (("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.cert.pem"), AT_2015, "individual", None),
        (("ncanode", "p12", "KEY_CEO_REVOKED_2015.cert.pem"), AT_2015, "legal_entity", None),
        (("ncanode", "p12", "KEY_CEO_SIGN_REVOKED_2004.cert.pem"), AT_2004, "legal_entity", None),
        (("ncanode", "p12", "KEY_INDIVIDUAL_SIGN_REVOKED_2004.cert.pem"), AT_2004, "individual", None),
        (("ncanode", "p12", "KEY_INDIVIDUAL_AUTH_REVOKED_2004.cert.pem"), AT_2004, "individual", None),
    ]
    for parts, at, subject_type, usage in certs:
        info = await _post(eds_api, "/v1/eds/x509/info", {"certificate": b64(*parts), "validation_time": at})
        assert info["valid"] and info["certificate"]["subject_type"] == subject_type, parts
        if usage:
            assert info["certificate"]["key_usage_class"] == usage, parts
    expired = await _post(
        eds_api,
        "/v1/eds/x509/info",
        {"certificate": b64("ncanode", "p12", "KEY_INDIVIDUAL_VALID_SIGN_2004.cert.pem"), "validation_time": AT_2004},
    )
    assert not expired["valid"] and expired["reasons"] == ["expired"]


async def test_tampered_and_foreign_inputs_are_verdicts(eds_api: Api) -> None:
    der = fixture_path("nca", "ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s").read_bytes()
    tampered = base64.b64encode(der.replace(b"test123", b"test124")).decode()
    result = await _post(eds_api, "/v1/eds/cms/verify", {"cms": tampered, "validation_time": AT_VALID_SIGN_2004})
    assert not result["valid"] and result["signers"][0]["reasons"] == ["message_digest_mismatch"]
    other = await _post(
        eds_api,
        "/v1/eds/cms/verify",
        {
            "cms": base64.b64encode(der).decode(),
            "data": base64.b64encode(b"other").decode(),
            "validation_time": AT_VALID_SIGN_2004,
        },
    )
    assert not other["valid"] and other["reasons"] == ["content_mismatch"]
    xml = fixture_path("nca", "ncanode", "xml", "XML_SIGNED_VALID_STRING.xml").read_text()
    assert xml.count("<b>test</b>") == 1
    body = {"xml": xml.replace("<b>test</b>", "<b>tost</b>"), "validation_time": AT_VALID_SIGN_2004}
    changed = await _post(eds_api, "/v1/eds/xml/verify", body)
    assert not changed["valid"] and changed["signatures"][0]["reasons"] == ["digest_mismatch"]


async def test_wrong_chain_is_untrusted(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    """Only the GOST-2015 CA pinned: the RSA signer of the same CMS has no path to a trusted root."""
    settings = make_settings(
        dsn, pki=pki_settings(anchor_files=[str(fixture_path("nca", *NCA_CAS[2]))]), server={"process_workers": 1}
    )
    api = await start_api(aiohttp_client, settings, keys)
    result = await _post(
        api, "/v1/eds/cms/verify", {"cms": b64("ncanode", "cms", "SIGNED_CMS.p7s"), "validation_time": AT_2015}
    )
    assert [s["reasons"] for s in result["signers"]] == [[], ["no_path"]] and not result["valid"]


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/v1/eds/cms/verify", {"cms": "not base64 at all!"}, "bad_encoding"),
        ("/v1/eds/cms/verify", {"cms": base64.b64encode(b"\x30\x03\x02\x01\x01").decode()}, "bad_cms"),
        ("/v1/eds/xml/verify", {"xml": "<a><b></a>"}, "bad_xml"),
        ("/v1/eds/x509/info", {"certificate": base64.b64encode(b"\x30\x00").decode()}, "bad_certificate"),
        ("/v1/eds/cms/verify", {"cms": "AAAA", "revocation_check": ["LDAP"]}, "literal_error"),
    ],
)
async def test_garbage_is_422_with_a_stable_code(eds_api: Api, path: str, body: dict[str, Any], code: str) -> None:
    resp = await eds_api.post(path, body)
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["code"] == code


async def test_validation_time_only_in_test_mode(aiohttp_client: Any, dsn: str, keys: LocalKeyStore) -> None:
    settings = make_settings(dsn, pki=pki_settings(test_mode_time_allowed=False), server={"process_workers": 1})
    api = await start_api(aiohttp_client, settings, keys)
    body = {"cms": b64("ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s"), "validation_time": AT_VALID_SIGN_2004}
    resp = await api.post("/v1/eds/cms/verify", body)
    assert resp.status == 422 and (await resp.json())["code"] == "validation_time_not_allowed"
    now = await _post(api, "/v1/eds/cms/verify", {"cms": body["cms"]})
    assert (
        not now["valid"] and now["signers"][0]["reasons"] == ["expired"] and now["signers"][0]["time_source"] == "now"
    )
