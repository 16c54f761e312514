"""HTTP surface: CA certificate downloads, the people index, keystores, admin issuance and its
validation, and persistence of the CA across restarts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from authsvc.pki import gost
from simulators.nca import oids
from simulators.nca.app import create_app
from simulators.nca.people import BUILTIN
from simulators.nca.signer import KeyPair
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
)


@pytest.mark.parametrize(
    ("name", "family", "part"),
    [
        ("nca_gost2022_test", "gost2015", "intermediate"),
        ("root_gost2022_test", "gost2015", "root"),
        ("nca_rsa2022_test", "rsa", "intermediate"),
        ("root_rsa2022_test", "rsa", "root"),
    ],
)
async def test_ca_certificates_are_served_where_aia_points(nca: NcaClient, name: str, family: str, part: str) -> None:
    index = await people(nca)
    response = await nca.get(f"/cert/{name}.cer")
    assert response.status == 200
    assert response.content_type == "application/pkix-cert"
    assert await response.read() == ca_cert(index, family, part).dump()
    assert index["cas"][family][f"{part}_url"] == f"{BASE_URL}/cert/{name}.cer"


async def test_unknown_ca_certificate_is_a_404_problem(nca: NcaClient) -> None:
    response = await nca.get("/cert/nothing.cer")
    assert response.status == 404
    assert (await response.json())["code"] == "unknown_certificate"


async def test_people_index_lists_both_keys_of_everyone(nca: NcaClient) -> None:
    index = await people(nca)
    by_id = {p["id"]: p for p in index["people"]}
    assert set(by_id) == set(BUILTIN)
    for person, entry in by_id.items():
        assert entry["iin"] == BUILTIN[person].iin
        assert entry["iin_valid"] is (person != "nca-test-iin")
        assert sorted(c["family"] for c in entry["certificates"]) == ["gost2015", "rsa"]
        for cert in entry["certificates"]:
            parsed = x509.Certificate.load(base64.b64decode(cert["certificate"]))
            assert f"{parsed.serial_number:x}" == cert["serial"]
            assert cert["revoked"] is False
    assert by_id["ceo"]["role"] == "ceo" and by_id["ceo"]["bin"] == "150140012343"


async def test_rsa_keystore_opens_with_its_password(nca: NcaClient) -> None:
    response = await nca.get("/people/individual/rsa.p12", params={"password": "s3cret"})
    assert response.status == 200
    data = await response.read()
    key, cert, _ = pkcs12.load_key_and_certificates(data, b"s3cret")
    assert key is not None and cert is not None
    expected = person_cert(await people(nca), "individual", "rsa")
    assert cert.public_bytes(serialization.Encoding.DER) == expected.dump()
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"wrong")


async def test_gost_keystore_opens_with_the_gost_reader_and_openssl(nca: NcaClient, tmp_path: Path) -> None:
    response = await nca.get("/people/ceo/gost2015.p12")  # default password, as NCA's test keys
    data = await response.read()
    key, certs = gost.load_nca_pkcs12(data, "Qwerty12")
    expected = person_cert(await people(nca), "ceo", "gost2015")
    assert certs == [expected.dump()]
    assert key is not None
    public = gost.public_key_info_der(key.public_key(), "kz-gost2015-512")
    assert public == expected.public_key.dump()
    path = tmp_path / "ceo.p12"
    path.write_bytes(data)
    rc, out = await openssl("pkcs12", "-in", path, "-passin", "pass:Qwerty12", "-info", "-noout")
    assert rc == 0, out
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in out
    rc, _ = await openssl("pkcs12", "-in", path, "-passin", "pass:nope", "-noout")
    assert rc != 0


async def test_admin_issue_returns_usable_material(nca: NcaClient) -> None:
    issued = await issue(
        nca,
        iin="123456789011",
        patronymic="Тестович",
        algorithm="gost2015",
        role="sign_financial",
        bin="150140012343",
        identification="remote",
        validity_days=30,
        password="pw",
        person="extra",
    )
    assert issued["iin_valid"] is False
    cert = x509.Certificate.load(base64.b64decode(issued["certificate"]))
    assert cert.subject.native["common_name"] == "СЕРИКОВ АРМАН"
    assert cert.subject.native["organizational_unit_name"] == "BIN150140012343"
    assert cert.extended_key_usage_value.native[1:] == [
        oids.ROLE_LEGAL_ENTITY,
        "1.2.398.3.3.4.1.2.3",
        "1.2.398.3.3.4.3.2",
    ]
    validity = cert["tbs_certificate"]["validity"]
    assert (validity["not_after"].native - validity["not_before"].native).days == 30
    key, certs = gost.load_nca_pkcs12(base64.b64decode(issued["p12"]), "pw")
    assert key is not None and certs == [cert.dump()]
    pair = KeyPair.from_pem(issued["certificate_pem"], issued["private_key_pem"])
    assert pair.signer.public_key_info().dump() == cert.public_key.dump()
    assert any(p["id"] == "extra" for p in (await people(nca))["people"])


async def test_admin_issue_honours_explicit_dates_and_client_auth(nca: NcaClient) -> None:
    issued = await issue(
        nca, algorithm="rsa", not_before="2025-01-01T00:00:00Z", not_after="2025-06-01T00:00:00+00:00", client_auth=True
    )
    assert issued["not_before"] == "2025-01-01T00:00:00+00:00"
    assert issued["not_after"] == "2025-06-01T00:00:00+00:00"
    cert = x509.Certificate.load(base64.b64decode(issued["certificate"]))
    assert "client_auth" in cert.extended_key_usage_value.native


@pytest.mark.parametrize(
    "body",
    [
        {"surname": "A", "first_name": "B"},
        {"iin": "12345", "surname": "A", "first_name": "B"},
        {"iin": "900101300126", "first_name": "B"},
        {"iin": "900101300126", "surname": "A", "first_name": "B", "algorithm": "dsa"},
        {"iin": "900101300126", "surname": "A", "first_name": "B", "role": "ceo"},
        {"iin": "900101300126", "surname": "A", "first_name": "B", "role": "king", "bin": "150140012343"},
        {"iin": "900101300126", "surname": "A", "first_name": "B", "validity_days": 0},
        {"iin": "900101300126", "surname": "A", "first_name": "B", "not_before": "yesterday"},
        {"iin": "900101300126", "surname": 5, "first_name": "B"},
        {
            "iin": "900101300126",
            "surname": "A",
            "first_name": "B",
            "not_before": "2026-02-01T00:00:00Z",
            "not_after": "2026-01-01T00:00:00Z",
        },
    ],
    ids=[
        "no-iin", "short-iin", "no-surname", "bad-algorithm", "ceo-without-bin", "bad-role",
        "zero-validity", "bad-date", "non-string", "inverted-dates",
    ],
)  # fmt: skip
async def test_admin_issue_refuses_bad_input(nca: NcaClient, body: dict[str, Any]) -> None:
    response = await nca.post("/admin/issue", json=body)
    assert response.status == 400
    problem = await response.json()
    assert problem["code"] == "invalid_issue_request"
    assert problem["detail"]


async def test_admin_issue_refuses_non_json(nca: NcaClient) -> None:
    response = await nca.post("/admin/issue", data=b"[1", headers={"Content-Type": "application/json"})
    assert response.status == 400
    response = await nca.post("/admin/issue", json=[1, 2])
    assert response.status == 400


async def test_state_survives_a_restart(aiohttp_client: Any, state_dir: Path) -> None:
    first: NcaClient = await aiohttp_client(create_app(base_url=BASE_URL, state_dir=state_dir))
    before = await people(first)
    issued = await issue(first, algorithm="gost2015", person="later")
    await revoke(first, issued["serial"], reason="superseded")
    crl_before = await (await first.get("/crl/nca_gost2022_test.crl")).read()
    await first.close()

    second: NcaClient = await aiohttp_client(create_app(base_url=BASE_URL, state_dir=state_dir))
    after = await people(second)
    for family in ("gost2015", "rsa"):
        for part in ("root", "intermediate", "ocsp", "tsa"):
            assert ca_cert(after, family, part).dump() == ca_cert(before, family, part).dump()
    later = next(p for p in after["people"] if p["id"] == "later")
    assert later["certificates"][0]["revocation"]["reason"] == "superseded"
    assert await (await second.get("/crl/nca_gost2022_test.crl")).read() == crl_before
    # The reloaded CA keeps signing with the same key.
    again = await issue(second, algorithm="gost2015")
    cert = x509.Certificate.load(base64.b64decode(again["certificate"]))
    inter = ca_cert(after, "gost2015", "intermediate")
    assert gost.verify(
        inter.public_key.dump(),
        oids.GOST2015_512_SIGNATURE,
        cert["tbs_certificate"].dump(),
        cert["signature_value"].native,
    )


async def test_without_a_state_dir_the_clock_is_live(aiohttp_client: Any) -> None:
    client: NcaClient = await aiohttp_client(create_app(base_url=BASE_URL))
    start = datetime.now(UTC)
    issued = await issue(client, algorithm="gost2015")
    not_before = datetime.fromisoformat(issued["not_before"])
    assert abs((start - not_before).total_seconds() - 300) < 60  # backdated five minutes for clock skew
    assert start >= FIXED_TIME


def test_fixed_time_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        create_app(base_url=BASE_URL, fixed_time=datetime(2026, 1, 1))


async def test_person_certificate_download_and_unknown_person(nca: NcaClient) -> None:
    response = await nca.get("/people/ceo/gost2015.cer")
    assert response.status == 200
    assert await response.read() == person_cert(await people(nca), "ceo", "gost2015").dump()
    response = await nca.get("/people/nobody/rsa.p12")
    assert response.status == 404
    assert (await response.json())["code"] == "unknown_person"


async def test_admin_issue_names_the_accepted_values(nca: NcaClient) -> None:
    body = {"iin": "900101300126", "surname": "A", "first_name": "B", "role": "boss"}
    problem = await (await nca.post("/admin/issue", json=body)).json()
    assert "individual" in problem["detail"] and "ceo" in problem["detail"] and "role" in problem["detail"]
    body = {"iin": "900101300126", "surname": "A", "first_name": "B", "identification": "telepathy"}
    problem = await (await nca.post("/admin/issue", json=body)).json()
    assert "remote" in problem["detail"]
