"""The NCALayer-like client signer: OpenSSL verifies its RSA CMS (attached, detached, time-stamped);
its GOST CMS and both XMLDSig flavours are checked with authsvc.pki.gost and a small reference
verifier that is first shown to accept NCA's own signed XML."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import aiohttp
import pytest
from asn1crypto import cms, tsp, x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import load_der_x509_certificate
from lxml import etree

from authsvc.pki import gost
from simulators.nca import oids
from simulators.nca.signer import (
    KeyPair,
    create_cms_signature_from_base64,
    sign_cms,
    sign_cms_timestamped,
    sign_xml,
)
from tests.shared import fixture_path
from tests.simulators.nca.helpers import FIXED_TIME, NcaClient, ca_cert, issue, openssl, people, person_cert, write_pem

CONTENT = "Договор займа № 1 / loan contract".encode()
DS = "http://www.w3.org/2000/09/xmldsig#"


async def key_pair(nca: NcaClient, family: str) -> KeyPair:
    issued = await issue(nca, algorithm=family, role="ceo", bin="150140012343", organization="ТОО «КРЕДИТ ТЕСТ»")
    return KeyPair.from_pem(issued["certificate_pem"], issued["private_key_pem"])


async def trust_bundle(nca: NcaClient, tmp_path: Path) -> Path:
    """Root and intermediate for `openssl cms -verify`, which builds chains only from -CAfile and the
    certificates inside the message (NCALayer puts in just the signer's)."""
    index = await people(nca)
    return write_pem(tmp_path / "ca.pem", ca_cert(index, "rsa", "root"), ca_cert(index, "rsa", "intermediate"))


@pytest.mark.parametrize("detached", [False, True], ids=["attached", "detached"])
async def test_openssl_verifies_rsa_cms(nca: NcaClient, tmp_path: Path, detached: bool) -> None:
    pair = await key_pair(nca, "rsa")
    bundle = await trust_bundle(nca, tmp_path)
    signature = tmp_path / "sig.p7s"
    signature.write_bytes(sign_cms(pair, CONTENT, detached=detached, signing_time=FIXED_TIME))
    args = ["cms", "-verify", "-inform", "DER", "-in", str(signature), "-CAfile", str(bundle)]
    args += ["-binary", "-out", str(tmp_path / "out.bin")]
    content = tmp_path / "content.bin"
    content.write_bytes(CONTENT)
    rc, out = await openssl(*args, *(["-content", str(content)] if detached else []))
    assert rc == 0 and "Verification successful" in out, out
    assert (tmp_path / "out.bin").read_bytes() == CONTENT
    if detached:  # other content must fail
        content.write_bytes(CONTENT + b"!")
        rc, out = await openssl(*args, "-content", str(content))
        assert rc != 0
    rc, out = await openssl("cms", "-cmsout", "-print", "-inform", "DER", "-in", signature)
    for attribute in ("contentType", "signingTime", "messageDigest", "id-smime-aa-signingCertificateV2"):
        assert f"object: {attribute}" in out


async def test_time_stamped_rsa_cms_still_verifies(nca: NcaClient, tmp_path: Path) -> None:
    pair = await key_pair(nca, "rsa")
    bundle = await trust_bundle(nca, tmp_path)
    async with aiohttp.ClientSession() as session:
        der = await sign_cms_timestamped(session, str(nca.make_url("/tsp/?family=rsa")), pair, CONTENT)
    path = tmp_path / "sig.p7s"
    path.write_bytes(der)
    rc, out = await openssl("cms", "-verify", "-inform", "DER", "-in", path, "-CAfile", bundle, "-out", tmp_path / "o")
    assert rc == 0, out
    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    token = signer_info["unsigned_attrs"][0]["values"][0]
    info = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].contents)
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(signer_info["signature"].native).digest()
    assert info["policy"].dotted == oids.TSA_POLICY_RSA


def check_gost_cms(der: bytes, content: bytes) -> cms.SignerInfo:
    signed = cms.ContentInfo.load(der)["content"]
    signer_info = signed["signer_infos"][0]
    cert = signed["certificates"][0].chosen
    assert signer_info["digest_algorithm"]["algorithm"].dotted == oids.STREEBOG_512
    attrs = {a["type"].native: a["values"][0].native for a in signer_info["signed_attrs"]}
    assert attrs["message_digest"] == gost.digest(oids.STREEBOG_512, content)
    assert attrs["content_type"] == "data"
    to_verify = cms.CMSAttributes.load(signer_info["signed_attrs"].untag().dump()).dump()
    assert gost.verify(cert.public_key.dump(), oids.GOST2015_512_SIGNATURE, to_verify, signer_info["signature"].native)
    assert not gost.verify(
        cert.public_key.dump(), oids.GOST2015_512_SIGNATURE, to_verify + b"x", signer_info["signature"].native
    )
    return signer_info


@pytest.mark.parametrize("detached", [False, True], ids=["attached", "detached"])
async def test_gost_cms_verifies_with_gost_2015(nca: NcaClient, detached: bool) -> None:
    pair = await key_pair(nca, "gost2015")
    der = sign_cms(pair, CONTENT, detached=detached, signing_time=FIXED_TIME)
    check_gost_cms(der, CONTENT)
    encap = cms.ContentInfo.load(der)["content"]["encap_content_info"]
    assert encap["content"].native == (None if detached else CONTENT)


async def test_gost_cms_time_stamp_comes_from_the_gost_tsa(nca: NcaClient) -> None:
    pair = await key_pair(nca, "gost2015")
    async with aiohttp.ClientSession() as session:
        der = await sign_cms_timestamped(session, str(nca.make_url("/tsp/")), pair, CONTENT, detached=True)
    signer_info = check_gost_cms(der, CONTENT)
    token = signer_info["unsigned_attrs"][0]["values"][0]
    info = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].contents)
    assert info["policy"].dotted == oids.TSA_POLICY_GOST2015
    imprint = info["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].dotted == oids.STREEBOG_512
    assert imprint["hashed_message"].native == gost.digest(oids.STREEBOG_512, signer_info["signature"].native)


# --- XMLDSig -------------------------------------------------------------------------------------
def verify_last_xml_signature(document: bytes) -> tuple[bool, bytes]:
    """Reference check of the last enveloped signature; returns (valid, document without it)."""
    tree = etree.ElementTree(etree.fromstring(document))
    root = tree.getroot()
    signature = root.findall(f"{{{DS}}}Signature")[-1]
    signed_info = signature.find(f"{{{DS}}}SignedInfo")
    assert signed_info is not None
    method = signed_info.find(f"{{{DS}}}SignatureMethod").get("Algorithm")
    digest_value = base64.b64decode(signed_info.findtext(f".//{{{DS}}}DigestValue") or "")
    value = base64.b64decode(signature.findtext(f"{{{DS}}}SignatureValue") or "")
    cert_der = base64.b64decode(signature.findtext(f".//{{{DS}}}X509Certificate") or "")
    canonical_info = etree.tostring(signed_info, method="c14n")
    root.remove(signature)
    canonical_doc = etree.tostring(tree, method="c14n")
    if method.endswith("rsa-sha256"):
        key = load_der_x509_certificate(cert_der).public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        try:
            key.verify(value, canonical_info, padding.PKCS1v15(), hashes.SHA256())
            ok = hashlib.sha256(canonical_doc).digest() == digest_value
        except InvalidSignature:
            ok = False
    else:
        assert method.endswith("gostr34102015-gostr34112015-512")
        spki = x509.Certificate.load(cert_der).public_key.dump()
        ok = gost.verify(spki, oids.GOST2015_512_SIGNATURE, canonical_info, value)
        ok = ok and gost.digest(oids.STREEBOG_512, canonical_doc) == digest_value
    return ok, etree.tostring(tree)


def test_reference_xml_verifier_accepts_ncalayer_output() -> None:
    document = fixture_path("nca", "ncanode", "xml", "XML_SIGNED_VALID_STRING_TWO_SIGNERS.xml").read_bytes()
    ok, rest = verify_last_xml_signature(document)  # GOST-2015-512, then RSA
    assert ok
    ok, _ = verify_last_xml_signature(rest)
    assert ok
    tampered = document.replace(b"<b>test</b>", b"<b>tesT</b>")
    assert not verify_last_xml_signature(tampered)[0]


async def test_xml_signatures_chain_like_ncalayer(nca: NcaClient) -> None:
    rsa_pair, gost_pair = await key_pair(nca, "rsa"), await key_pair(nca, "gost2015")
    original = '<?xml version="1.0" encoding="UTF-8"?><loan xmlns:x="urn:x"><x:sum>100 000 ₸</x:sum></loan>'
    once = sign_xml(rsa_pair, original.encode())
    twice = sign_xml(gost_pair, once)
    assert b"urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:gostr34102015-gostr34112015-512" in twice
    assert b"urn:ietf:params:xml:ns:pkigovkz:xmlsec:algorithms:gostr34112015-512" in twice
    ok, rest = verify_last_xml_signature(twice)
    assert ok
    ok, bare = verify_last_xml_signature(rest)
    assert ok
    assert etree.tostring(etree.fromstring(bare), method="c14n") == etree.tostring(
        etree.fromstring(original.encode()), method="c14n"
    )
    assert not verify_last_xml_signature(twice.replace(b"100 000", b"900 000"))[0]


@pytest.mark.parametrize(
    ("keystore", "password", "algorithm"),
    [
        ("KEY_INDIVIDUAL_VALID_2015.p12", "Aa123456", oids.GOST2015_512_SIGNATURE),
        ("KEY_INDIVIDUAL_VALID_SIGN_2004.p12", "Qwerty12", "sha256_rsa"),
    ],
)
def test_signer_takes_ncas_own_test_keystores(keystore: str, password: str, algorithm: str) -> None:
    """The demo can sign with NCA's real test keys, not only with the simulator's."""
    pair = KeyPair.from_pkcs12(fixture_path("nca", "ncanode", "p12", keystore).read_bytes(), password)
    der = sign_cms(pair, CONTENT, signing_time=FIXED_TIME)
    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    assert signer_info["signature_algorithm"]["algorithm"].native == algorithm
    if algorithm == oids.GOST2015_512_SIGNATURE:
        check_gost_cms(der, CONTENT)
    with pytest.raises(ValueError):
        KeyPair.from_pkcs12(fixture_path("nca", "ncanode", "p12", keystore).read_bytes(), "wrong")


@pytest.mark.parametrize("family", ["gost2015", "rsa"])
async def test_signer_takes_the_simulators_keystores(nca: NcaClient, family: str) -> None:
    data = await (await nca.get(f"/people/signer/{family}.p12", params={"password": "pw"})).read()
    pair = KeyPair.from_pkcs12(data, "pw")
    assert pair.certificate.dump() == person_cert(await people(nca), "signer", family).dump()
    assert pair.signer.family == family


async def test_ncalayer_style_base64_entry_point(nca: NcaClient) -> None:
    pair = await key_pair(nca, "gost2015")
    detached = base64.b64decode(
        create_cms_signature_from_base64(pair, base64.b64encode(CONTENT).decode(), attached=False)
    )
    check_gost_cms(detached, CONTENT)
    assert cms.ContentInfo.load(detached)["content"]["encap_content_info"]["content"].native is None
    with pytest.raises(ValueError):
        create_cms_signature_from_base64(pair, "not base64!")
