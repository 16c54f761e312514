"""pyhanko-certvalidator, the path validator the service uses, accepts the simulator's RSA chain and
reads its revocation data: a revocation shows through the delta CRL and through OCSP (delegated
responder), with the intermediate checked against the root CRL."""

from __future__ import annotations

import base64
import hashlib

import pytest
from asn1crypto import ocsp, x509
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError

from simulators.nca.certs import public_key_bits
from tests.simulators.nca.helpers import NcaClient, ca_cert, issue, revoke


async def fetch(nca: NcaClient, path: str, body: bytes | None = None) -> bytes:
    if body is None:
        response = await nca.get(path)
    else:
        response = await nca.post(path, data=body, headers={"Content-Type": "application/ocsp-request"})
    assert response.status == 200
    return await response.read()


def ocsp_request(issuer: x509.Certificate, serial: int) -> bytes:
    cert_id = {
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),
        "issuer_key_hash": hashlib.sha1(public_key_bits(issuer.public_key)).digest(),
        "serial_number": serial,
    }
    return bytes(ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump())


async def validate(
    leaf: x509.Certificate, root: x509.Certificate, inter: x509.Certificate, data: tuple[list[bytes], list[bytes]]
) -> None:
    context = ValidationContext(
        trust_roots=[root],
        other_certs=[inter],
        crls=data[0],
        ocsps=data[1],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )
    validator = CertificateValidator(leaf, validation_context=context)
    await validator.async_validate_usage({"digital_signature"})  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("source", ["crl", "ocsp"])
async def test_certvalidator_follows_revocation(nca: NcaClient, source: str) -> None:
    index = await (await nca.get("/people")).json()
    root, inter = ca_cert(index, "rsa", "root"), ca_cert(index, "rsa", "intermediate")
    issued = await issue(nca, algorithm="rsa")
    leaf = x509.Certificate.load(base64.b64decode(issued["certificate"]))

    async def revocation_data() -> tuple[list[bytes], list[bytes]]:
        """(CRLs, OCSP responses); the intermediate is always checked against the root CRL."""
        root_crl = await fetch(nca, "/crl/root_rsa2022_test.crl")
        if source == "crl":
            crls = [await fetch(nca, f"/crl/nca_rsa2022_test{s}.crl") for s in ("", "_d")]
            return [*crls, root_crl], []
        return [root_crl], [await fetch(nca, "/ocsp/", ocsp_request(inter, leaf.serial_number))]

    await validate(leaf, root, inter, await revocation_data())
    # Revoked, with only a delta CRL published: the base CRL alone would still say "good".
    await revoke(nca, issued["serial"], reason="keyCompromise", publish_base=False)
    with pytest.raises(RevokedError, match="compromised key"):
        await validate(leaf, root, inter, await revocation_data())
