"""Issue 11 §3: path validation never raises, whatever the certificates or the library do.

An RSA signature naming a GOST CA made pyhanko-certvalidator's algorithm policy size the GOST key, which
asn1crypto cannot do (UnboundLocalError); any such exception must come back as a named reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

from authsvc.pki.path import PathValidator
from tests.pki.certmaker import Issued, gost_key, issue, rsa_key


async def test_rsa_signature_naming_a_gost_ca_is_refused_by_name() -> None:
    gost_root = issue("GOST Root", gost_key(), ca=True)
    spki, rsa_sign, rsa_oid = rsa_key()
    impostor = Issued(gost_root.cert, spki, rsa_sign, rsa_oid)  # the GOST CA's name, an RSA key's signature
    forged = issue("Forged", rsa_key(), impostor, serial=7)
    result = await PathValidator([gost_root.cert]).validate(forged.cert, at=datetime.now(UTC))
    assert not result.ok and result.reasons == ["disallowed_algorithm"], result
    assert "GOST" in result.detail


async def test_an_exception_inside_validation_is_an_invalid_path() -> None:
    root = issue("Root", rsa_key(), ca=True)
    inter = issue("Intermediate", rsa_key(), root, ca=True, serial=2)
    leaf = issue("Leaf", rsa_key(), inter, serial=3, ca_issuers_url="http://pki.example/inter.cer")

    async def faulty(address: str) -> bytes | None:
        raise RuntimeError("fetcher bug")

    result = await PathValidator([root.cert], aia_fetcher=faulty).validate(leaf.cert, at=datetime.now(UTC))
    assert not result.ok and result.reasons == ["invalid_path"] and "fetcher bug" in result.detail


async def test_a_self_signed_certificate_is_untrusted_not_a_key_usage_fault() -> None:
    """Issue 11 §12: pyhanko refuses a self-signed leaf with InvalidCertificateError; the reason is trust."""
    root = issue("Root", rsa_key(), ca=True)
    impostor = issue("ЖУМАБАЕВ ЕРЛАН", rsa_key())  # the client's exact name, signed by its own key
    for usage in (("digital_signature",), ()):
        result = await PathValidator([root.cert]).validate(
            impostor.cert, at=datetime.now(UTC), required_key_usage=usage
        )
        assert not result.ok and result.reasons == ["untrusted_root"], result
