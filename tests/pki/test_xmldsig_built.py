"""XMLDSig variants NCALayer's fixtures do not cover: exclusive C14N and ECDSA, signed here with pyca.

The signer below follows XMLDSig by hand (lxml C14N, pyca signatures); the root declares an extra
namespace so inclusive and exclusive canonical forms of SignedInfo differ: picking the wrong one fails.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from lxml import etree

from authsvc.pki.path import PathValidator
from authsvc.pki.xmldsig import verify_xml
from tests.pki.certmaker import Issued, Signer, ec_key, issue, rsa_key

DS = "http://www.w3.org/2000/09/xmldsig#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
INC = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
DOC = b'<doc xmlns:extra="urn:example:extra"><amount currency="KZT">100000</amount><!-- note --></doc>'


def _sign_xml(signer: Issued, sign: Signer, method: str, c14n: str, *, ecdsa: bool) -> bytes:
    root = etree.fromstring(DOC)
    exclusive = c14n == EXC
    digest = hashlib.sha256(etree.tostring(root, method="c14n", exclusive=exclusive, with_comments=False)).digest()
    sig = etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS})
    info = etree.SubElement(sig, f"{{{DS}}}SignedInfo")
    etree.SubElement(info, f"{{{DS}}}CanonicalizationMethod", Algorithm=c14n)
    etree.SubElement(info, f"{{{DS}}}SignatureMethod", Algorithm=method)
    ref = etree.SubElement(info, f"{{{DS}}}Reference", URI="")
    transforms = etree.SubElement(ref, f"{{{DS}}}Transforms")
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=DS + "enveloped-signature")
    etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=c14n)
    etree.SubElement(ref, f"{{{DS}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, f"{{{DS}}}DigestValue").text = base64.b64encode(digest).decode()
    value = sign(etree.tostring(info, method="c14n", exclusive=exclusive))
    if ecdsa:
        r, s = decode_dss_signature(value)
        value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    etree.SubElement(sig, f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()
    data = etree.SubElement(etree.SubElement(sig, f"{{{DS}}}KeyInfo"), f"{{{DS}}}X509Data")
    etree.SubElement(data, f"{{{DS}}}X509Certificate").text = base64.b64encode(signer.cert.dump()).decode()
    return bytes(etree.tostring(root))


@pytest.mark.parametrize("c14n", [EXC, INC], ids=["exclusive", "inclusive"])
@pytest.mark.parametrize(
    ("make_key", "method", "ecdsa"),
    [
        (rsa_key, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", False),
        (ec_key, "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", True),
    ],
    ids=["rsa", "ecdsa"],
)
async def test_built_signature_verifies(
    make_key: Callable[[], tuple[bytes, Signer, str]], method: str, ecdsa: bool, c14n: str
) -> None:
    """Valid only if SignedInfo is canonicalised in the declared mode (xmlns:extra is in scope)."""
    root_ca = issue("XML Root", make_key(), ca=True)
    key = make_key()
    leaf = issue("XML Signer", key, root_ca, serial=11)
    doc = _sign_xml(leaf, key[1], method, c14n, ecdsa=ecdsa)
    validator = PathValidator([root_ca.cert])
    now = datetime.now(UTC)
    result = await verify_xml(doc, validator=validator, at=now)
    assert result.valid, [(s.reasons, s.detail) for s in result.signatures]
    edited = doc.replace(b"100000", b"900000")
    (sig,) = (await verify_xml(edited, validator=validator, at=now)).signatures
    assert sig.reasons == ["digest_mismatch"]
