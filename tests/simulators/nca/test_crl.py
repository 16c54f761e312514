"""CRLs and delta CRLs: OpenSSL verifies the RSA ones, authsvc.pki.gost the GOST ones; revocations
appear with increasing CRL numbers, in the delta only when the base is not republished."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import crl

from authsvc.pki import gost
from simulators.nca.ca import Urls
from simulators.nca.pki import Pki
from tests.simulators.nca.helpers import (
    BASE_URL,
    FIXED_TIME,
    NcaClient,
    ca_cert,
    issue,
    openssl,
    people,
    revoke,
    write_pem,
)


async def fetch(nca: NcaClient, name: str) -> crl.CertificateList:
    response = await nca.get(f"/crl/{name}.crl")
    assert response.status == 200, await response.text()
    assert response.content_type == "application/pkix-crl"
    return crl.CertificateList.load(await response.read())


def serials(cert_list: crl.CertificateList) -> set[int]:
    return {entry["user_certificate"].native for entry in cert_list["tbs_cert_list"]["revoked_certificates"]}


async def test_openssl_verifies_rsa_crls_and_sees_a_revocation(nca: NcaClient, tmp_path: Path) -> None:
    index = await people(nca)
    inter = write_pem(tmp_path / "inter.pem", ca_cert(index, "rsa", "intermediate"))
    before = await fetch(nca, "nca_rsa2022_test")
    issued = await issue(nca, algorithm="rsa")
    result = await revoke(nca, issued["serial"], reason="key_compromise")
    after = await fetch(nca, "nca_rsa2022_test")
    assert after.crl_number_value.native == result["crl_number"] > before.crl_number_value.native
    assert int(issued["serial"], 16) in serials(after)
    assert int(issued["serial"], 16) not in serials(before)
    for name, cert_list in (("before", before), ("after", after)):
        path = tmp_path / f"{name}.crl"
        path.write_bytes(cert_list.dump())
        rc, out = await openssl("crl", "-inform", "DER", "-in", path, "-CAfile", inter, "-noout", "-text")
        assert rc == 0 and "verify OK" in out, out
    assert "Key Compromise" in out
    assert "Freshest CRL" in out


async def test_delta_crl_carries_revocations_the_base_does_not_yet(nca: NcaClient, tmp_path: Path) -> None:
    issued = await issue(nca, algorithm="rsa")
    base_before = await fetch(nca, "nca_rsa2022_test")
    await revoke(nca, issued["serial"], reason="superseded", publish_base=False)
    base = await fetch(nca, "nca_rsa2022_test")
    delta = await fetch(nca, "nca_rsa2022_test_d")
    serial = int(issued["serial"], 16)
    assert base.dump() == base_before.dump()
    assert serial not in serials(base) and serial in serials(delta)
    assert delta.delta_crl_indicator_value.native == base.crl_number_value.native
    assert delta.crl_number_value.native > base.crl_number_value.native
    inter = write_pem(tmp_path / "inter.pem", ca_cert(await people(nca), "rsa", "intermediate"))
    path = tmp_path / "delta.crl"
    path.write_bytes(delta.dump())
    rc, out = await openssl("crl", "-inform", "DER", "-in", path, "-CAfile", inter, "-noout", "-text")
    assert rc == 0 and "verify OK" in out, out
    assert "Delta CRL Indicator: critical" in out
    # Republishing the base moves the revocation there and empties the delta.
    issued2 = await issue(nca, algorithm="rsa")
    await revoke(nca, issued2["serial"], publish_base=True)
    base = await fetch(nca, "nca_rsa2022_test")
    delta = await fetch(nca, "nca_rsa2022_test_d")
    assert {serial, int(issued2["serial"], 16)} <= serials(base)
    assert not serials(delta)


@pytest.mark.parametrize("name", ["nca_gost2022_test", "nca_gost2022_test_d", "root_gost2022_test"])
async def test_gost_crls_are_signed_by_their_ca(nca: NcaClient, name: str) -> None:
    index = await people(nca)
    issuer = ca_cert(index, "gost2015", "root" if name.startswith("root") else "intermediate")
    cert_list = await fetch(nca, name)
    tbs = cert_list["tbs_cert_list"]
    assert tbs["issuer"] == issuer.subject
    assert tbs["next_update"].native > tbs["this_update"].native
    assert gost.verify(
        issuer.public_key.dump(),
        cert_list["signature_algorithm"]["algorithm"].dotted,
        tbs.dump(),
        cert_list["signature"].native,
    )


async def test_gost_revocation_reaches_the_gost_crl_only(nca: NcaClient) -> None:
    issued = await issue(nca, algorithm="gost2015")
    await revoke(nca, issued["serial"], reason="affiliationChanged")
    serial = int(issued["serial"], 16)
    gost_crl = await fetch(nca, "nca_gost2022_test")
    entry = next(e for e in gost_crl["tbs_cert_list"]["revoked_certificates"] if e["user_certificate"].native == serial)
    assert entry["crl_entry_extensions"][0]["extn_value"].native == "affiliation_changed"
    assert serial not in serials(await fetch(nca, "nca_rsa2022_test"))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"serial": "abcdef"}, 404, "unknown_certificate"),
        ({"serial": "zz"}, 400, "invalid_revoke_request"),
        ({"serial": None}, 400, "invalid_revoke_request"),
        ({"serial": "1", "reason": "bored"}, 400, "invalid_revoke_request"),
        ({"serial": "1", "time": "2026-01-01T00:00:00"}, 400, "invalid_revoke_request"),
    ],
)
async def test_bad_revocations_are_refused(nca: NcaClient, body: dict[str, object], status: int, code: str) -> None:
    if body.get("serial") == "1":
        body = {**body, "serial": (await issue(nca))["serial"]}
    response = await nca.post("/admin/revoke", json=body)
    assert response.status == status
    assert (await response.json())["code"] == code


async def test_revoking_twice_is_refused(nca: NcaClient) -> None:
    issued = await issue(nca)
    await revoke(nca, issued["serial"])
    response = await nca.post("/admin/revoke", json={"serial": issued["serial"]})
    assert response.status == 400


async def test_unknown_crl_name_is_404(nca: NcaClient) -> None:
    for name in ("nope", "root_rsa2022_test_d"):
        response = await nca.get(f"/crl/{name}.crl")
        assert response.status == 404
        assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("kind", ["base", "delta", "root"])
def test_expired_crls_are_republished_with_a_new_number(state_dir: Path, kind: str) -> None:
    now = [FIXED_TIME]
    pki = Pki.open(Urls(BASE_URL), state_dir, lambda: now[0])
    first = crl.CertificateList.load(pki.crl("gost2015", kind))
    assert pki.crl("gost2015", kind) == first.dump()  # cached while fresh
    now[0] = first["tbs_cert_list"]["next_update"].native + timedelta(seconds=1)
    second = crl.CertificateList.load(pki.crl("gost2015", kind))
    assert second.crl_number_value.native > first.crl_number_value.native
    assert second["tbs_cert_list"]["this_update"].native == now[0]
    assert second["tbs_cert_list"]["next_update"].native > now[0]
