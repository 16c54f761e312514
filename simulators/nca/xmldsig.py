"""Enveloped XMLDSig as NCALayer writes it (KZ-PKI.md §4): inclusive C14N, the enveloped-signature
transform then C14N-with-comments, RSA-SHA256 or the pkigovkz GOST-2015-512 URIs, the signer
certificate in KeyInfo. A further signature can be added to an already signed document."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Final

from lxml import etree

if TYPE_CHECKING:
    from simulators.nca.signer import KeyPair

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
C14N: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_WITH_COMMENTS: Final = C14N + "#WithComments"
ENVELOPED: Final = DS + "enveloped-signature"
_PKIGOVKZ: Final = "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:"
METHODS: Final[dict[str, tuple[str, str]]] = {
    # family: (SignatureMethod, DigestMethod)
    "rsa": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "http://www.w3.org/2001/04/xmlenc#sha256"),
    "gost2015": (_PKIGOVKZ + "gostr34102015-gostr34112015-512", _PKIGOVKZ + "gostr34112015-512"),
}


def _wrapped_b64(data: bytes) -> str:
    text = base64.b64encode(data).decode("ascii")
    return "\n" + "\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + "\n"


def _sub(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{DS}}}{tag}", attrs)


def _canonical(node: etree._Element | etree._ElementTree) -> bytes:
    return bytes(etree.tostring(node, method="c14n", exclusive=False, with_comments=False))


def sign_xml(pair: KeyPair, document: bytes) -> bytes:
    """The document with one more enveloped ds:Signature appended to its root element.

    The Reference (URI="") digests the document without this new signature; signatures already
    present are part of it, which is how NCALayer chains signatures (verify the last one first)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    tree = etree.ElementTree(etree.fromstring(document, parser))
    root = tree.getroot()
    # URI="" selects the document minus comments; the c14n-with-comments transform then adds none.
    digest = pair.signer.digest(_canonical(tree))
    signature_method, digest_method = METHODS[pair.signer.family]

    signature = etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = _sub(signature, "SignedInfo")
    _sub(signed_info, "CanonicalizationMethod", Algorithm=C14N)
    _sub(signed_info, "SignatureMethod", Algorithm=signature_method)
    reference = _sub(signed_info, "Reference", URI="")
    transforms = _sub(reference, "Transforms")
    _sub(transforms, "Transform", Algorithm=ENVELOPED)
    _sub(transforms, "Transform", Algorithm=C14N_WITH_COMMENTS)
    _sub(reference, "DigestMethod", Algorithm=digest_method)
    _sub(reference, "DigestValue").text = base64.b64encode(digest).decode("ascii")
    # The SignedInfo is canonicalised in place, so it inherits the namespaces in scope there.
    signature_value = pair.signer.sign(_canonical(signed_info))
    _sub(signature, "SignatureValue").text = _wrapped_b64(signature_value)
    key_info = _sub(signature, "KeyInfo")
    x509_data = _sub(key_info, "X509Data")
    _sub(x509_data, "X509Certificate").text = _wrapped_b64(pair.certificate.dump())
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
