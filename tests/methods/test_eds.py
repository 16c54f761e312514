"""Who may pass the EDS step: the holder checks on real NCA test certificates (R-7.1)."""

from __future__ import annotations

import base64

import pytest

from authsvc.errors import ValidationFailed
from authsvc.methods.eds import ClientIdentity, decode_b64, decode_der, holder_reasons
from authsvc.pki.certinfo import cert_info
from authsvc.pki.service import SignerReport
from tests.shared import fixture_path

ORG = ("danikarik-ncanode-go", "organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.cert.pem")
PERSON = ("danikarik-ncanode-go", "personal", "active", "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9.cert.pem")
TEST_IIN, TEST_BIN = "123456789011", "123456789021"  # NCA's test numbers (they fail the check digit)


def signer(*parts: str) -> SignerReport:
    info = cert_info(fixture_path("nca", *parts).read_bytes())
    return SignerReport(valid=True, reasons=[], signature_valid=True, certificate=info)


@pytest.mark.parametrize(
    ("cert", "client", "roles", "reasons"),
    [
        (PERSON, ClientIdentity("individual", TEST_IIN, None, True), ["ceo"], []),
        (PERSON, ClientIdentity("individual", "811201401188", None, False), ["ceo"], ["iin_mismatch"]),
        (ORG, ClientIdentity("individual", TEST_IIN, None, True), ["ceo"], ["legal_entity_certificate"]),
        (ORG, ClientIdentity("legal_entity", TEST_IIN, TEST_BIN, True), ["ceo", "sign"], []),
        (
            ORG,
            ClientIdentity("legal_entity", TEST_IIN, TEST_BIN, True),
            ["sign", "sign_financial"],
            ["role_not_allowed"],
        ),
        (ORG, ClientIdentity("legal_entity", TEST_IIN, "971240001315", True), ["ceo"], ["bin_mismatch"]),
        (
            PERSON,
            ClientIdentity("legal_entity", TEST_IIN, TEST_BIN, True),
            ["ceo"],
            ["bin_mismatch", "role_not_allowed"],
        ),
    ],
)
def test_holder_must_be_the_client(
    cert: tuple[str, ...], client: ClientIdentity, roles: list[str], reasons: list[str]
) -> None:
    assert holder_reasons(signer(*cert), client, roles) == reasons


def test_signer_without_certificate_is_never_the_client() -> None:
    report = SignerReport(valid=False, reasons=["signer_certificate_missing"], signature_valid=False, certificate=None)
    assert holder_reasons(report, ClientIdentity("individual", TEST_IIN, None, True), []) == [
        "signer_certificate_missing"
    ]


@pytest.mark.parametrize(("value", "code"), [("%%%", "bad_base64"), ("YWJ", "bad_base64")])
def test_bad_base64_is_a_named_422(value: str, code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_b64(value, "data")
    assert caught.value.code == code and caught.value.status == 422


def test_der_input_accepts_pem_and_base64_and_names_garbage() -> None:
    pem = fixture_path("nca", *PERSON).read_text()
    der = decode_der(pem, "certificate")
    assert decode_der(base64.b64encode(der).decode(), "certificate") == der
    with pytest.raises(ValidationFailed) as caught:
        decode_der("hello", "certificate")
    assert caught.value.code == "bad_encoding"
