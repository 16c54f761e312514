"""Enveloped XMLDSig as NCALayer produces it (KZ-PKI.md §4), several signatures in sequence (R-7.1, R-12.1).

Signatures are verified last first: the last one covers the document with every earlier signature in
it; it is then removed and the one before is verified against what is left. Only what NCALayer uses is
accepted: one Reference with URI="" (the whole document, so no wrapping tricks), the enveloped-signature
and C14N 1.0 (inclusive or exclusive, with or without comments) transforms; anything else (XPath,
XSLT, external URIs) is refused by name. The parser never resolves entities, never reaches the network
and refuses DTDs outright, so XXE and entity-expansion bombs cannot run.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from asn1crypto import algos, x509
from lxml import etree
from pydantic import BaseModel

from authsvc import error_codes
from authsvc.errors import AuthsvcError, ValidationFailed
from authsvc.pki.algorithms import UnsupportedAlgorithm, hash_data, verify_signature
from authsvc.pki.certinfo import CertificateParseError, CertInfo, cert_info, load_certificate
from authsvc.pki.der import BadEncoding
from authsvc.pki.path import PathResult, PathValidator

__all__ = ["XmlParseError", "XmlResult", "XmlSignatureResult", "verify_xml", "verify_xml_sync"]

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
_NS: Final = {"ds": DS, "ec": "http://www.w3.org/2001/10/xml-exc-c14n#"}
_ENVELOPED: Final = DS + "enveloped-signature"
_KZ_URN: Final = "urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:"
# C14N URI -> (exclusive, with_comments)
_C14N: Final = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
}
_SIGNATURE_METHODS: Final = {
    DS + "rsa-sha1": "1.2.840.113549.1.1.5",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": "1.2.840.113549.1.1.11",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": "1.2.840.113549.1.1.12",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": "1.2.840.113549.1.1.13",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": "1.2.840.10045.4.3.2",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": "1.2.840.10045.4.3.3",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": "1.2.840.10045.4.3.4",
    "http://www.w3.org/2001/04/xmldsig-more#gost34310-gost34311": "1.2.398.3.10.1.1.1.2",
    _KZ_URN + "gostr34102015-gostr34112015-512": "1.2.398.3.10.1.1.2.3.2",
}
_DIGEST_METHODS: Final = {
    DS + "sha1": "1.3.14.3.2.26",
    "http://www.w3.org/2001/04/xmlenc#sha256": "2.16.840.1.101.3.4.2.1",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "2.16.840.1.101.3.4.2.2",
    "http://www.w3.org/2001/04/xmlenc#sha512": "2.16.840.1.101.3.4.2.3",
    "http://www.w3.org/2001/04/xmldsig-more#gost34311": "1.2.398.3.10.1.3.1",
    _KZ_URN + "gostr34112015-512": "1.2.398.3.10.1.3.3",
}
_MAX_XML: Final = 16 * 1024 * 1024


class XmlParseError(ValidationFailed):
    code = error_codes.BAD_XML
    title = "Unreadable XML document"


class XmlSignatureResult(BaseModel):
    valid: bool
    signature_valid: bool
    digest_valid: bool
    reasons: list[str] = []
    detail: str = ""
    signer: CertInfo | None = None
    path: PathResult | None = None
    signature_method: str | None = None
    digest_method: str | None = None
    validated_at: datetime | None = None


class XmlResult(BaseModel):
    valid: bool
    reasons: list[str] = []
    signatures: list[XmlSignatureResult]  # in document order


class _Rejected(Exception):
    """One signature cannot be judged: carries the reason code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail or reason


def _parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=False,
    )


def _parse(document: bytes | str) -> Any:
    raw = document.encode("utf-8") if isinstance(document, str) else bytes(document)
    if len(raw) > _MAX_XML:
        raise XmlParseError(f"XML document is larger than {_MAX_XML} bytes")
    try:
        tree = etree.ElementTree(etree.fromstring(raw, parser=_parser()))
    except AuthsvcError:
        raise
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise XmlParseError(f"not well-formed XML: {exc}") from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlParseError("documents with a DTD are not accepted")
    return tree


def _b64(text: str | None, what: str) -> bytes:
    compact = "".join((text or "").split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Rejected("malformed_signature", f"{what} is not base64") from exc


def _c14n(node: Any, method: str, prefixes: Sequence[str] | None = None, *, comments: bool = True) -> bytes:
    if method not in _C14N:
        raise _Rejected("unsupported_transform", f"canonicalization {method}")
    exclusive, with_comments = _C14N[method]
    out = etree.tostring(
        node,
        method="c14n",
        exclusive=exclusive,
        with_comments=with_comments and comments,
        inclusive_ns_prefixes=list(prefixes) if exclusive and prefixes else None,
    )
    return bytes(out)


def _prefix_list(element: Any) -> list[str]:
    found = element.find("ec:InclusiveNamespaces", _NS)
    return str(found.get("PrefixList", "")).split() if found is not None else []


def _ecdsa_der(raw: bytes) -> bytes:
    """XMLDSig writes ECDSA as r‖s; pyca wants DER SEQUENCE{r, s}."""
    half = len(raw) // 2
    der: bytes = algos.DSASignature(
        {"r": int.from_bytes(raw[:half], "big"), "s": int.from_bytes(raw[half:], "big")}
    ).dump()
    return der


def _reference_digest(tree: Any, signature: Any, reference: Any) -> tuple[str, bool]:
    """(digest method URI, digest matches) for the single whole-document Reference."""
    if reference.get("URI") != "":
        raise _Rejected("unsupported_reference", 'only URI="" (the whole document) is accepted')
    transforms = [t.get("Algorithm") for t in reference.findall("ds:Transforms/ds:Transform", _NS)]
    c14n_method = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    prefixes: list[str] = []
    for algorithm, element in zip(transforms, reference.findall("ds:Transforms/ds:Transform", _NS), strict=True):
        if algorithm == _ENVELOPED:
            continue
        if algorithm not in _C14N:
            raise _Rejected("unsupported_transform", f"transform {algorithm}")
        c14n_method, prefixes = algorithm, _prefix_list(element)
    if _ENVELOPED not in transforms:
        raise _Rejected("unsupported_transform", "an enveloped signature must use the enveloped-signature transform")
    method_el = reference.find("ds:DigestMethod", _NS)
    method = method_el.get("Algorithm") if method_el is not None else None
    if method not in _DIGEST_METHODS:
        raise _Rejected("unsupported_algorithm", f"digest method {method}")
    expected = _b64(reference.findtext("ds:DigestValue", namespaces=_NS), "DigestValue")
    # Work on a copy without this signature; URI="" excludes comments (XMLDSig §4.3.3.3).
    copy = etree.ElementTree(etree.fromstring(etree.tostring(tree), parser=_parser()))
    _detach(_follow(copy.getroot(), _index_path(signature)))
    actual = hash_data(_DIGEST_METHODS[method], _c14n(copy, c14n_method, prefixes, comments=False))
    return method, hmac.compare_digest(actual, expected)


def _index_path(element: Any) -> list[int]:
    """Child indexes from the document element down to ``element``."""
    path: list[int] = []
    while element.getparent() is not None:
        parent = element.getparent()
        path.append(parent.index(element))
        element = parent
    return path[::-1]


def _follow(root: Any, path: list[int]) -> Any:
    for index in path:
        root = root[index]
    return root


def _detach(element: Any) -> None:
    """Remove an element but keep its tail text, which belongs to the surrounding document."""
    parent = element.getparent()
    tail = element.tail or ""
    previous = element.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(element)


async def _verify_one(
    tree: Any,
    signature: Any,
    *,
    validator: PathValidator,
    at: datetime | None,
    required_key_usage: Sequence[str],
) -> XmlSignatureResult:
    result = XmlSignatureResult(valid=False, signature_valid=False, digest_valid=False)
    try:
        if signature.getparent() is None:
            raise _Rejected("malformed_signature", "the document element cannot be an enveloped signature")
        signed_info = signature.find("ds:SignedInfo", _NS)
        if signed_info is None:
            raise _Rejected("malformed_signature", "no SignedInfo")
        references = signed_info.findall("ds:Reference", _NS)
        if len(references) != 1:
            raise _Rejected("unsupported_reference", "exactly one Reference is accepted")
        c14n_el = signed_info.find("ds:CanonicalizationMethod", _NS)
        sm_el = signed_info.find("ds:SignatureMethod", _NS)
        result.signature_method = sm_el.get("Algorithm") if sm_el is not None else None
        if result.signature_method not in _SIGNATURE_METHODS:
            raise _Rejected("unsupported_algorithm", f"signature method {result.signature_method}")
        result.digest_method, result.digest_valid = _reference_digest(tree, signature, references[0])
        if not result.digest_valid:
            result.reasons.append("digest_mismatch")
        c14n_method = c14n_el.get("Algorithm") if c14n_el is not None else None
        signed_bytes = _c14n(signed_info, str(c14n_method), _prefix_list(c14n_el) if c14n_el is not None else [])
        value = _b64(signature.findtext("ds:SignatureValue", namespaces=_NS), "SignatureValue")
        certs = [
            load_certificate(_b64(c.text, "X509Certificate"))
            for c in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)
        ]
        if not certs:
            raise _Rejected("signer_certificate_missing", "no X509Certificate in KeyInfo")
        sig_oid = _SIGNATURE_METHODS[result.signature_method]
        if sig_oid.startswith("1.2.840.10045."):
            value = _ecdsa_der(value)
        # KeyInfo may carry CA certificates too: the signer is the one whose key verifies.
        cert: x509.Certificate = certs[0]
        for candidate in certs:
            if verify_signature(candidate.public_key, sig_oid, signed_bytes, value):
                cert, result.signature_valid = candidate, True
                break
        result.signer = cert_info(cert)
    except _Rejected as exc:
        result.reasons.append(exc.reason)
        result.detail = exc.detail
        return result
    except UnsupportedAlgorithm as exc:
        result.reasons.append("unsupported_algorithm")
        result.detail = exc.detail
        return result
    except (BadEncoding, CertificateParseError) as exc:
        result.reasons.append("bad_certificate")
        result.detail = exc.detail
        return result
    if not result.signature_valid:
        result.reasons.append("bad_signature")
    result.validated_at = at if at is not None else datetime.now(UTC)
    result.path = await validator.validate(
        cert, at=result.validated_at, other_certs=certs, required_key_usage=required_key_usage
    )
    result.reasons.extend(result.path.reasons)
    result.detail = result.path.detail
    result.valid = result.signature_valid and result.digest_valid and not result.reasons
    return result


async def verify_xml(
    document: bytes | str,
    *,
    validator: PathValidator,
    at: datetime | None = None,
    required_key_usage: Sequence[str] = ("digital_signature",),
) -> XmlResult:
    """Verify every enveloped ds:Signature, last first, each against the document as it was signed.

    ``at`` is the validation moment for the certificates (None: now). Raises :class:`XmlParseError`
    only when the document itself is unreadable.
    """
    tree = _parse(document)
    signatures = list(tree.getroot().iter(f"{{{DS}}}Signature"))
    results: list[XmlSignatureResult] = []
    for signature in reversed(signatures):
        results.append(
            await _verify_one(tree, signature, validator=validator, at=at, required_key_usage=required_key_usage)
        )
        if signature.getparent() is not None:
            _detach(signature)
    results.reverse()
    reasons = [] if results else ["no_signatures"]
    return XmlResult(valid=bool(results) and all(r.valid for r in results), reasons=reasons, signatures=results)


def verify_xml_sync(
    document: bytes | str,
    *,
    validator: PathValidator,
    at: datetime | None = None,
    required_key_usage: Sequence[str] = ("digital_signature",),
) -> XmlResult:
    """:func:`verify_xml` for worker processes (no running event loop)."""
    return asyncio.run(verify_xml(document, validator=validator, at=at, required_key_usage=required_key_usage))
