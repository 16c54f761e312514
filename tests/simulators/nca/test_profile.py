"""What the simulator issues follows the NCA RK profile (KZ-PKI.md §1) and chains correctly:
OpenSSL verifies the RSA hierarchy; the GOST one is checked with authsvc.pki.gost."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import x509

from authsvc.pki import gost
from simulators.nca import oids
from simulators.nca.people import BUILTIN, is_valid_identifier
from tests.simulators.nca.helpers import (
    BASE_URL,
    NcaClient,
    ca_cert,
    openssl,
    people,
    person_cert,
    write_pem,
)


def subject(cert: x509.Certificate) -> dict[str, str]:
    return {k: str(v) for k, v in cert.subject.native.items()}


def gost_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    return gost.verify(
        issuer.public_key.dump(),
        cert["signature_algorithm"]["algorithm"].dotted,
        cert["tbs_certificate"].dump(),
        cert["signature_value"].native,
    )


async def test_openssl_verifies_the_rsa_chain_of_every_certificate(nca: NcaClient, tmp_path: Path) -> None:
    index = await people(nca)
    root = write_pem(tmp_path / "root.pem", ca_cert(index, "rsa", "root"))
    inter = write_pem(tmp_path / "inter.pem", ca_cert(index, "rsa", "intermediate"))
    leaves = [person_cert(index, p, "rsa") for p in BUILTIN]
    leaves += [ca_cert(index, "rsa", "ocsp"), ca_cert(index, "rsa", "tsa")]
    paths = [write_pem(tmp_path / f"leaf{i}.pem", c) for i, c in enumerate(leaves)]
    rc, out = await openssl("verify", "-CAfile", root, "-untrusted", inter, *paths)
    assert rc == 0, out
    assert out.count(": OK") == len(paths)
    # A leaf does not verify against the other family's root.
    other = write_pem(tmp_path / "gostroot.pem", ca_cert(index, "gost2015", "root"))
    rc, _ = await openssl("verify", "-CAfile", other, "-untrusted", inter, paths[0])
    assert rc != 0


async def test_gost_chain_is_signed_with_gost_2015_512(nca: NcaClient) -> None:
    index = await people(nca)
    root, inter = ca_cert(index, "gost2015", "root"), ca_cert(index, "gost2015", "intermediate")
    assert gost_signed_by(root, root)
    assert gost_signed_by(inter, root)
    for person in BUILTIN:
        leaf = person_cert(index, person, "gost2015")
        assert leaf["signature_algorithm"]["algorithm"].dotted == oids.GOST2015_512_SIGNATURE
        key = gost.parse_public_key(leaf.public_key.dump())
        assert key.key_oid == oids.GOST2015_KEY
        assert key.curve_oid == oids.GOST2015_512_CURVE
        assert gost_signed_by(leaf, inter)
        assert not gost_signed_by(leaf, root)
    for service in ("ocsp", "tsa"):
        assert gost_signed_by(ca_cert(index, "gost2015", service), inter)


@pytest.mark.parametrize("family", ["gost2015", "rsa"])
async def test_ca_names_are_long_kazakh_test_names(nca: NcaClient, family: str) -> None:
    index = await people(nca)
    inter = ca_cert(index, family, "intermediate")
    name = inter.subject.native["common_name"]
    assert name == oids.INTERMEDIATE_NAMES[family]  # type: ignore[index]
    assert "TEST" in name and len(name.encode()) > 64
    assert inter.ca and inter.max_path_length == 0
    assert inter.key_usage_value.native == {"key_cert_sign", "crl_sign"}


@pytest.mark.parametrize("family", ["gost2015", "rsa"])
async def test_individual_subject_and_extensions(nca: NcaClient, family: str) -> None:
    cert = person_cert(await people(nca), "individual", family)
    holder = BUILTIN["individual"]
    assert subject(cert) == {
        "common_name": f"{holder.surname} {holder.first_name}",
        "surname": holder.surname,
        "serial_number": f"IIN{holder.iin}",
        "country_name": "KZ",
        "given_name": holder.patronymic,  # NCA puts the patronymic in GIVENNAME
        "email_address": holder.email,
    }
    # Attribute order and string types as on NCA's certificates.
    rdns = [rdn[0] for rdn in cert.subject.chosen]
    assert [r["type"].native for r in rdns][:4] == ["common_name", "surname", "serial_number", "country_name"]
    assert rdns[2]["value"].name == "printable_string"
    assert rdns[0]["value"].name == "utf8_string"
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation", "key_encipherment"}
    assert cert["tbs_certificate"]["extensions"][0]["critical"].native is True
    assert cert.extended_key_usage_value.native == [
        "email_protection",
        oids.ROLE_INDIVIDUAL,
        "1.2.398.3.3.4.3.1",
    ]
    assert [p["policy_identifier"].dotted for p in cert.certificate_policies_value] == [oids.POLICY_GOST2015]
    stem = oids.INTERMEDIATE_STEMS[family]  # type: ignore[index]
    assert cert.ocsp_urls == [f"{BASE_URL}/ocsp/"]
    assert cert.crl_distribution_points[0].url == f"{BASE_URL}/crl/{stem}.crl"
    assert cert.delta_crl_distribution_points[0].url == f"{BASE_URL}/crl/{stem}_d.crl"
    issuers = [a["access_location"].native for a in cert.authority_information_access_value]
    assert f"{BASE_URL}/cert/{stem}.cer" in issuers
    ext_ids = {e["extn_id"].dotted for e in cert["tbs_certificate"]["extensions"]}
    assert (oids.NCA_KEYSTORE_INFO in ext_ids) == (family == "gost2015")


@pytest.mark.parametrize(
    ("person", "role_oid"),
    [("ceo", "1.2.398.3.3.4.1.2.1"), ("signer", "1.2.398.3.3.4.1.2.2")],
)
async def test_legal_entity_certificates_carry_bin_and_role(nca: NcaClient, person: str, role_oid: str) -> None:
    index = await people(nca)
    for family in ("gost2015", "rsa"):
        cert = person_cert(index, person, family)
        names = subject(cert)
        assert names["organizational_unit_name"] == "BIN150140012343"
        assert names["organization_name"] == "ТОО «КРЕДИТ ТЕСТ»"
        assert names["serial_number"] == f"IIN{BUILTIN[person].iin}"
        assert cert.extended_key_usage_value.native[1:3] == [oids.ROLE_LEGAL_ENTITY, role_oid]


async def test_openssl_reads_the_profile_fields(nca: NcaClient, tmp_path: Path) -> None:
    cert = person_cert(await people(nca), "ceo", "rsa")
    path = write_pem(tmp_path / "ceo.pem", cert)
    rc, out = await openssl("x509", "-in", path, "-noout", "-text", "-nameopt", "utf8,sep_comma_plus_space")
    assert rc == 0, out
    assert "serialNumber=IIN780920300568" in out
    assert "OU=BIN150140012343" in out
    assert "GN=БОЛАТҰЛЫ" in out
    assert "1.2.398.3.3.4.1.2, 1.2.398.3.3.4.1.2.1" in out
    assert "E-mail Protection" in out


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("811201401188", True),  # IIN example of KZ-PKI.md §5
        ("971240001315", True),  # BIN example of KZ-PKI.md §5
        ("123456789011", False),  # NCA's test IIN
        ("123456789012", False),
        ("123456789021", False),  # NCA's test BIN
        ("81120140118", False),
        ("8112014011a8", False),
    ],
)
def test_identifier_check_digit(number: str, valid: bool) -> None:
    assert is_valid_identifier(number) is valid


def test_builtin_population_has_valid_numbers_except_the_nca_test_iin() -> None:
    for person, holder in BUILTIN.items():
        assert is_valid_identifier(holder.iin) is (person != "nca-test-iin"), person
        if holder.bin is not None:
            assert is_valid_identifier(holder.bin)
