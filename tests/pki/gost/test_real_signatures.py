"""Every real GOST signature in the NCA fixtures verifies, and a one-bit change breaks it.

Covers GOST 34.310-2004 (CryptoPro-A curve, GOST 34.311-95 test S-box) and GOST 2015 512
(tc26 512 A, Streebog-512) over certificates, CRLs, CMS signed attributes, OCSP responses and an
RFC 3161 token: the encodings of KZ-PKI.md §2 checked against NCA's own output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import cms, crl, ocsp, x509

from authsvc.pki.gost import digest, is_gost_signature_oid, parse_public_key, verify
from tests.pki.gost import material
from tests.shared import fixture_path


def _gost_issued(path: Path) -> bool:
    cert = x509.Certificate.load(material.der(path.read_bytes()))
    return is_gost_signature_oid(cert["signature_algorithm"]["algorithm"].dotted) and bool(
        material.issuers_of(cert.issuer)
    )


GOST_CERTIFICATES = [p for p in material.all_certificate_files() if _gost_issued(p)]


def _id(path: Path) -> str:
    return str(path.relative_to(fixture_path("nca")))


def test_the_fixtures_hold_both_gost_generations() -> None:
    algorithms = {
        x509.Certificate.load(material.der(p.read_bytes()))["signature_algorithm"]["algorithm"].dotted
        for p in GOST_CERTIFICATES
    }
    assert algorithms == {"1.2.398.3.10.1.1.1.2", "1.2.398.3.10.1.1.2.3.2"}
    assert len(GOST_CERTIFICATES) >= 7  # 4 GOST-2004 leaves + 2 GOST-2015 leaves, one twice


@pytest.mark.parametrize("path", GOST_CERTIFICATES, ids=_id)
def test_certificate_signature(path: Path) -> None:
    cert = x509.Certificate.load(material.der(path.read_bytes()))
    algorithm = cert["signature_algorithm"]["algorithm"].dotted
    tbs = cert["tbs_certificate"].dump()
    signature = cert["signature_value"].native
    for issuer in material.issuers_of(cert.issuer):
        spki = material.spki(issuer)
        assert verify(spki, algorithm, tbs, signature)
        assert not verify(spki, algorithm, material.flip(tbs, 200), signature)
        assert not verify(spki, algorithm, tbs, material.flip(signature, 5))


@pytest.mark.parametrize("name", ["nca_gost_test.crl", "nca_gost2022_test.crl"])
def test_crl_signature(name: str) -> None:
    # nca_gost2022_test.crl writes its inner AlgorithmIdentifier without parameters and the outer
    # with NULL (pyca refuses it): the signature is over the tbsCertList bytes as they are.
    cert_list = crl.CertificateList.load(material.read("ncanode", "crl", name))
    algorithm = cert_list["signature_algorithm"]["algorithm"].dotted
    tbs = cert_list["tbs_cert_list"].dump()
    signature = cert_list["signature"].native
    issuers = material.issuers_of(cert_list.issuer)
    assert issuers
    for issuer in issuers:
        assert verify(material.spki(issuer), algorithm, tbs, signature)
        assert not verify(material.spki(issuer), algorithm, material.flip(tbs, -3), signature)


def _signed_attrs_der(signer: cms.SignerInfo) -> bytes:
    # The signature covers the attributes' DER with the [0] IMPLICIT tag replaced by SET OF.
    der = bytearray(signer["signed_attrs"].dump())
    der[0] = 0x31
    return bytes(der)


def _gost_signers(data: bytes) -> list[tuple[cms.SignerInfo, x509.Certificate, bytes | None]]:
    signed = cms.ContentInfo.load(data)["content"]
    content = signed["encap_content_info"]["content"]
    body = None if content.native is None else content.contents
    out = []
    for signer in signed["signer_infos"]:
        if not is_gost_signature_oid(signer["signature_algorithm"]["algorithm"].dotted):
            continue
        sid = signer["sid"].chosen
        (cert,) = [
            c.chosen
            for c in signed["certificates"]
            if c.chosen.issuer == sid["issuer"] and c.chosen.serial_number == sid["serial_number"].native
        ]
        out.append((signer, cert, body))
    return out


CMS_FILES = [
    pytest.param(("ncanode", "cms", "SIGNED_CMS.p7s"), id="SIGNED_CMS"),
    pytest.param(("ncanode", "cms", "SIGNED_DETACHED_CMS.p7s"), id="SIGNED_DETACHED_CMS"),
    pytest.param(("ncanode", "tsp", "tsp_token.bin"), id="tsp_token"),
    *[pytest.param(tuple(p.relative_to(fixture_path("nca")).parts), id=p.name) for p in material.danikarik_gost_cms()],
]


@pytest.mark.parametrize("parts", CMS_FILES)
def test_cms_gost_signer(parts: tuple[str, ...]) -> None:
    signers = _gost_signers(material.cms_bytes(fixture_path("nca", *parts)))
    assert signers, "every listed file has a GOST signer"
    for signer, cert, body in signers:
        if body is None:  # the detached signature's content ships beside it
            body = material.read("ncanode", "cms", "detached_content_test123.bin")
        attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
        assert attrs["message_digest"].native == digest(signer["digest_algorithm"]["algorithm"].dotted, body)
        algorithm = signer["signature_algorithm"]["algorithm"].dotted
        spki = material.spki(cert)
        signed_attrs = _signed_attrs_der(signer)
        signature = signer["signature"].native
        assert verify(spki, algorithm, signed_attrs, signature)
        assert not verify(spki, algorithm, material.flip(signed_attrs, -1), signature)
        assert not verify(spki, algorithm, signed_attrs, material.flip(signature, -1))


def test_tsa_and_cms_signer_certificates_chain_to_their_gost_ca() -> None:
    for parts in (("ncanode", "tsp", "tsp_token.bin"), ("ncanode", "cms", "SIGNED_CMS.p7s")):
        for _signer, cert, _body in _gost_signers(material.read(*parts)):
            (issuer,) = {i.sha256: i for i in material.issuers_of(cert.issuer)}.values()
            algorithm = cert["signature_algorithm"]["algorithm"].dotted
            tbs = cert["tbs_certificate"].dump()
            assert verify(material.spki(issuer), algorithm, tbs, cert["signature_value"].native)


OCSP_GOST = [
    "ocsp_response_individual_2015.bin",
    "ocsp_response_ceo_2015_revoked.bin",
    "ocsp_response_ceo_sign_2004_revoked.bin",
]


@pytest.mark.parametrize("name", OCSP_GOST)
def test_ocsp_response_signature(name: str) -> None:
    response = ocsp.OCSPResponse.load(material.read("ncanode", "ocsp", name))
    basic = response["response_bytes"]["response"].parsed
    algorithm = basic["signature_algorithm"]["algorithm"].dotted
    assert is_gost_signature_oid(algorithm)
    responder = basic["certs"][0]
    tbs = basic["tbs_response_data"].dump()
    signature = basic["signature"].native
    assert verify(material.spki(responder), algorithm, tbs, signature)
    assert not verify(material.spki(responder), algorithm, material.flip(tbs, 10), signature)
    # The delegated responder certificate is itself a GOST signature by its CA.
    for issuer in material.issuers_of(responder.issuer):
        responder_alg = responder["signature_algorithm"]["algorithm"].dotted
        responder_tbs = responder["tbs_certificate"].dump()
        assert verify(material.spki(issuer), responder_alg, responder_tbs, responder["signature_value"].native)


def test_public_keys_read_as_their_kazakh_curves() -> None:
    gost2015 = parse_public_key(material.spki(material.certificate("ncanode", "ca", "nca_gost2015_test.cer")))
    gost2004 = parse_public_key(material.spki(material.certificate("ncanode", "ca", "nca_gost_test.crt")))
    assert (gost2015.curve.name, gost2015.curve_oid) == (
        "id-tc26-gost-3410-12-512-paramSetA",
        "1.2.398.3.10.1.1.2.2.1",
    )
    assert (gost2004.curve.name, gost2004.digest_param_oid) == (
        "id-GostR3410-2001-CryptoPro-A-ParamSet",
        "1.2.398.3.10.1.3.1.1.0",
    )
