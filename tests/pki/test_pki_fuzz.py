"""Property tests: truncated, bit-flipped and random input to every entry point.

Only the service's named errors may come out, and a "valid" verdict may only survive a mutation that
left every signed byte as it was (a flip in an unsigned field such as SignedData.version).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from datetime import datetime

from asn1crypto import cms, x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.errors import AuthsvcError
from authsvc.pki.algorithms import verify_signature
from authsvc.pki.certinfo import cert_info, load_certificate
from authsvc.pki.cms import verify_cms_sync
from authsvc.pki.x509verify import verify_raw
from authsvc.pki.xmldsig import verify_xml_sync
from tests.pki.nca_material import AT_2015, AT_DANIKARIK, AT_VALID_SIGN_2004, nca_validator, read

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CMS_SEEDS = [
    (read("ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s"), AT_VALID_SIGN_2004),
    (read("ncanode", "cms", "SIGNED_CMS.p7s"), AT_2015),
]
XML_SEED = read("ncanode", "xml", "XML_SIGNED_VALID_STRING.xml")
GOST_XML_SEED = read(
    "danikarik-ncanode-go", "organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.xml"
)
CERT_SEED = load_certificate(read("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.cert.pem")).dump()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "splice"]))
    if kind == "truncate":
        return seed[: draw(st.integers(0, len(seed) - 1))]
    if kind == "flip":
        at = draw(st.integers(0, len(seed) - 1))
        return seed[:at] + bytes([seed[at] ^ (1 << draw(st.integers(0, 7)))]) + seed[at + 1 :]
    at = draw(st.integers(0, len(seed)))
    return seed[:at] + draw(st.binary(min_size=1, max_size=16)) + seed[at:]


def _signed_parts(der: bytes) -> list[tuple[bytes, bytes]]:
    """(signed attributes, signer certificate) per signer: what a valid verdict must leave untouched."""
    signed = cms.ContentInfo.load(der)["content"]
    certs = [c.chosen.dump() for c in signed["certificates"]]
    return [(si["signed_attrs"].dump(), b"".join(certs)) for si in signed["signer_infos"]]


def _may_be_valid(original: bytes, candidate: bytes) -> bool:
    try:
        return _signed_parts(original) == _signed_parts(candidate)
    except (ValueError, TypeError, KeyError, IndexError):
        return False


@FUZZ
@given(data=st.data(), seed_index=st.sampled_from([0, 1]), encode=st.booleans())
def test_cms_mutations(data: st.DataObject, seed_index: int, encode: bool) -> None:
    seed, at = CMS_SEEDS[seed_index]
    candidate = data.draw(mutated(seed))
    try:
        result = verify_cms_sync(base64.b64encode(candidate) if encode else candidate, validator=nca_validator(), at=at)
    except AuthsvcError:
        return
    if result.valid:
        assert _may_be_valid(seed, candidate) and result.content == b"test123"


@FUZZ
@given(blob=st.binary(max_size=400), text=st.text(max_size=200))
def test_cms_random_input(blob: bytes, text: str) -> None:
    for candidate in (blob, text, b"\x30\x82" + blob):
        with contextlib.suppress(AuthsvcError):
            assert not verify_cms_sync(candidate, validator=nca_validator(), content=b"x", at=AT_2015).valid


def _xml_payload_intact(doc: bytes, marker: bytes) -> bool:
    return marker in doc


@FUZZ
@given(data=st.data(), gost=st.booleans())
def test_xml_mutations(data: st.DataObject, gost: bool) -> None:
    seed, at, marker = (
        (GOST_XML_SEED, AT_DANIKARIK, b"<name>NCANode</name>")
        if gost
        else (XML_SEED, AT_VALID_SIGN_2004, b"<b>test</b>")
    )
    candidate = data.draw(mutated(seed))
    try:
        result = verify_xml_sync(candidate, validator=nca_validator(), at=at)
    except AuthsvcError:
        return
    if result.valid:
        assert _xml_payload_intact(candidate, marker) and len(result.signatures) == 1


@FUZZ
@given(text=st.text(max_size=300))
def test_xml_random_text(text: str) -> None:
    for candidate in (
        text,
        f"<a>{text}</a>",
        f'<a><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{text}</ds:Signature></a>',
    ):
        with contextlib.suppress(AuthsvcError):
            assert not verify_xml_sync(candidate, validator=nca_validator(), at=AT_2015).valid


@FUZZ
@given(data=st.data())
def test_certificate_mutations(data: st.DataObject) -> None:
    candidate = data.draw(mutated(CERT_SEED))
    try:
        cert_info(candidate)
    except AuthsvcError:
        return
    result = nca_validator().validate_sync(candidate, at=AT_2015)
    if result.ok:
        original_tbs = x509.Certificate.load(CERT_SEED)["tbs_certificate"].dump()
        assert x509.Certificate.load(candidate)["tbs_certificate"].dump() == original_tbs


@FUZZ
@given(key=st.binary(max_size=300), sig=st.binary(max_size=200), oid=st.sampled_from(
    ["1.2.840.113549.1.1.11", "1.2.840.10045.4.3.2", "1.2.398.3.10.1.1.2.3.2", "1.2.398.3.10.1.1.1.2"]))  # fmt: skip
def test_verify_signature_random(key: bytes, sig: bytes, oid: str) -> None:
    assert verify_signature(key, oid, b"data", sig) is False
    spki = x509.Certificate.load(CERT_SEED).public_key.dump()
    assert verify_signature(spki, oid, b"data", sig) is False


def test_fuzz_settings_cover_the_pinned_moment() -> None:
    """Sanity: the unmutated seeds are valid at their pinned times, so the properties above are not vacuous."""
    assert verify_cms_sync(CMS_SEEDS[0][0], validator=nca_validator(), at=CMS_SEEDS[0][1]).valid
    assert verify_xml_sync(XML_SEED, validator=nca_validator(), at=AT_VALID_SIGN_2004).valid
    assert verify_xml_sync(GOST_XML_SEED, validator=nca_validator(), at=AT_DANIKARIK).valid
    assert nca_validator().validate_sync(CERT_SEED, at=AT_2015).ok
    assert isinstance(AT_2015, datetime)


@FUZZ
@given(data=st.data(), signature=st.binary(max_size=140))
def test_raw_verify_mutations(data: st.DataObject, signature: bytes) -> None:
    candidate = data.draw(mutated(CERT_SEED))
    try:
        result = asyncio.run(verify_raw(candidate, b"nonce", signature, validator=nca_validator(), at=AT_2015))
    except AuthsvcError:
        return
    assert not result.valid
