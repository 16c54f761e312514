"""OCSP requests and response checks: NCA's real answers and synthetic attacks on the checks (R-7.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from authsvc.pki.ocsp import OcspError, OcspStatus, build_ocsp_request, verify_ocsp_response
from tests.pki.test_crl import der, make_ca, read, rsa_key

# (response, certificate asked about, its CA, the nonce NCA echoed, status, reason, revocation time)
NCA_RESPONSES = [
    (
        "ocsp_response_individual_sign_2004.bin",
        "KEY_INDIVIDUAL_VALID_SIGN_2004.cert.pem",
        "nca_rsa_test.crt",
        "B5E5C9B552CBCAC4",
        OcspStatus.GOOD,
        None,
        None,
    ),
    (
        "ocsp_response_ceo_sign_2004_revoked.bin",
        "KEY_CEO_SIGN_REVOKED_2004.cert.pem",
        "nca_gost_test.crt",
        "8B6B9F100D6B0005",
        OcspStatus.REVOKED,
        "superseded",
        datetime(2022, 1, 18, 6, 30, 55, tzinfo=UTC),
    ),
    (
        "ocsp_response_ceo_2015_revoked.bin",
        "KEY_CEO_REVOKED_2015.cert.pem",
        "nca_gost2015_test.cer",
        "157B28FD1AC7761E",
        OcspStatus.REVOKED,
        "certificate_hold",
        datetime(2022, 7, 27, 10, 25, 30, tzinfo=UTC),
    ),
    # NCA's "I do not know this certificate": revoked/certificateHold at 1970-01-01
    (
        "ocsp_response_individual_2015.bin",
        "KEY_INDIVIDUAL_VALID_2015.cert.pem",
        "nca_gost2015_test.cer",
        "E408FFB790834AF2",
        OcspStatus.UNKNOWN,
        None,
        None,
    ),
]
PRODUCED = datetime(2022, 9, 2, 17, 0, tzinfo=UTC)


def nca_case(index: int) -> tuple[bytes, bytes, bytes, bytes]:
    response, cert, ca, nonce, *_ = NCA_RESPONSES[index]
    return read("ocsp", response), read("p12", cert), read("ca", ca), bytes.fromhex(nonce)


@pytest.mark.parametrize(("response", "cert", "ca", "nonce", "status", "reason", "revoked_at"), NCA_RESPONSES)
def test_nca_responses_verify_and_report_status(
    response: str,
    cert: str,
    ca: str,
    nonce: str,
    status: OcspStatus,
    reason: str | None,
    revoked_at: datetime | None,
) -> None:
    request = build_ocsp_request(read("p12", cert), read("ca", ca), nonce=bytes.fromhex(nonce))
    result = verify_ocsp_response(read("ocsp", response), request, read("ca", ca), PRODUCED)
    assert result.status == status
    assert result.revocation_reason == reason
    assert result.revocation_time == revoked_at
    assert result.hold_means_unknown is (status == OcspStatus.UNKNOWN)
    assert result.delegated_responder and result.responder_nocheck  # NCA's delegated responders
    assert result.nonce_echoed and result.next_update is None
    assert result.response_der == read("ocsp", response)


def test_request_cert_id_matches_what_nca_answered() -> None:
    """Our SHA-256 CertID (name hash, key hash over the raw GOST key) is byte-equal to NCA's."""
    for response, cert, ca, *_ in NCA_RESPONSES:
        request = build_ocsp_request(read("p12", cert), read("ca", ca))
        parsed = asn1_ocsp.OCSPResponse.load(read("ocsp", response)).basic_ocsp_response
        answered = parsed["tbs_response_data"]["responses"][0]["cert_id"]
        asked = asn1_ocsp.OCSPRequest.load(request.der)["tbs_request"]["request_list"][0]["req_cert"]
        assert asked.dump() == answered.dump()
        assert len(request.nonce or b"") == 16


def test_sha1_request_is_matched_against_a_sha256_answer() -> None:
    response, cert, ca, nonce = nca_case(0)
    request = build_ocsp_request(cert, ca, hash_algorithm="sha1", nonce=nonce)
    assert (
        asn1_ocsp.OCSPRequest.load(request.der)["tbs_request"]["request_list"][0]["req_cert"]["hash_algorithm"][
            "algorithm"
        ].native
        == "sha1"
    )
    assert verify_ocsp_response(response, request, ca, PRODUCED).status == OcspStatus.GOOD


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"nonce": bytes(8)}, "ocsp_nonce_mismatch"),
        ({"now": PRODUCED + timedelta(days=1)}, "ocsp_stale"),
        ({"now": PRODUCED - timedelta(days=1)}, "ocsp_not_yet_valid"),
        ({"ca": "nca_gost_test.crt"}, "ocsp_mismatch"),
    ],
    ids=["replayed-nonce", "stale", "future", "other-ca"],
)
def test_nca_response_refused_when_it_does_not_fit(change: dict[str, object], code: str) -> None:
    response, cert, ca, nonce = nca_case(0)
    issuer = read("ca", str(change["ca"])) if "ca" in change else ca
    request = build_ocsp_request(cert, issuer, nonce=change.get("nonce", nonce))  # type: ignore[arg-type]
    now = change.get("now", PRODUCED)
    with pytest.raises(OcspError) as caught:
        verify_ocsp_response(response, request, issuer, now)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_tampered_nca_response_fails_its_signature() -> None:
    response, cert, ca, nonce = nca_case(1)  # GOST 34.310-2004 signed
    tampered = response.replace(b"20220902165704Z", b"20220902165705Z", 1)
    with pytest.raises(OcspError) as caught:
        verify_ocsp_response(tampered, build_ocsp_request(cert, ca, nonce=nonce), ca, PRODUCED)
    assert caught.value.code == "ocsp_signature_invalid"


def test_request_without_nonce_accepts_an_answer_without_one() -> None:
    response, cert, ca, _ = nca_case(0)
    result = verify_ocsp_response(response, build_ocsp_request(cert, ca, nonce=None), ca, PRODUCED)
    assert result.status == OcspStatus.GOOD and not result.nonce_echoed


@pytest.mark.parametrize("body", [b"", b"<html>Try again</html>", b"\x30\x03\x0a\x01\x00", b"\x30\x03\x0a\x01\x03"])
def test_garbage_and_refusals_are_named(body: bytes) -> None:
    _, cert, ca, nonce = nca_case(0)
    with pytest.raises(OcspError) as caught:
        verify_ocsp_response(body, build_ocsp_request(cert, ca, nonce=nonce), ca, PRODUCED)
    assert caught.value.code in {"ocsp_malformed", "ocsp_try_later"}
    if body == b"\x30\x03\x0a\x01\x03":
        assert caught.value.code == "ocsp_try_later"


# --- synthetic responder ------------------------------------------------------------------------------
# cryptography stamps producedAt with the real clock, so the synthetic responder lives in the present.
NOW = datetime.now(UTC).replace(microsecond=0)


def make_leaf(ca: tuple[rsa.RSAPrivateKey, x509.Certificate], serial: int) -> x509.Certificate:
    key, ca_cert = ca
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"ТЕСТОВ {serial}")]))
        .issuer_name(ca_cert.subject)
        .public_key(rsa_key("leaf").public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=335))
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier("http://127.0.0.1:9/ocsp"),
                    )
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def make_responder(
    ca: tuple[rsa.RSAPrivateKey, x509.Certificate], *, eku: bool = True
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key, ca_cert = ca
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OCSP RESPONDER")]))
        .issuer_name(ca_cert.subject)
        .public_key(rsa_key("responder").public_key())
        .serial_number(777)
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.OCSPNoCheck(), critical=False)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
    return rsa_key("responder"), builder.sign(key, hashes.SHA256())


def make_response(
    leaf: x509.Certificate,
    ca: tuple[rsa.RSAPrivateKey, x509.Certificate],
    signer: tuple[rsa.RSAPrivateKey, x509.Certificate],
    *,
    nonce: bytes | None,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    revoked_at: datetime | None = None,
    this_update: datetime = NOW,
    next_update: datetime | None = None,
    by_key: bool = False,
) -> bytes:
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf,
        issuer=ca[1],
        algorithm=hashes.SHA256(),
        cert_status=status,
        this_update=this_update,
        next_update=next_update,
        revocation_time=revoked_at,
        revocation_reason=x509.ReasonFlags.key_compromise if revoked_at else None,
    )
    encoding = ocsp.OCSPResponderEncoding.HASH if by_key else ocsp.OCSPResponderEncoding.NAME
    builder = builder.responder_id(encoding, signer[1])
    if signer[1] != ca[1]:
        builder = builder.certificates([signer[1]])
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    from cryptography.hazmat.primitives import serialization

    return builder.sign(signer[0], hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("by_key", [False, True], ids=["by-name", "by-key"])
def test_ca_signed_and_delegated_responses_are_accepted(by_key: bool) -> None:
    ca = make_ca()
    leaf = make_leaf(ca, 1001)
    request = build_ocsp_request(der(leaf), der(ca[1]))
    direct = make_response(leaf, ca, ca, nonce=request.nonce, by_key=by_key)
    result = verify_ocsp_response(direct, request, der(ca[1]), NOW)
    assert result.status == OcspStatus.GOOD and not result.delegated_responder
    delegated = make_response(leaf, ca, make_responder(ca), nonce=request.nonce, by_key=by_key)
    result = verify_ocsp_response(delegated, request, der(ca[1]), NOW)
    assert result.delegated_responder and result.responder_nocheck


def test_real_revocations_keep_time_and_reason() -> None:
    ca = make_ca()
    leaf = make_leaf(ca, 1002)
    request = build_ocsp_request(der(leaf), der(ca[1]))
    when = NOW - timedelta(days=10)
    body = make_response(leaf, ca, ca, nonce=request.nonce, status=ocsp.OCSPCertStatus.REVOKED, revoked_at=when)
    result = verify_ocsp_response(body, request, der(ca[1]), NOW)
    assert (result.status, result.revocation_time, result.revocation_reason) == (
        OcspStatus.REVOKED,
        when,
        "key_compromise",
    )


@pytest.mark.parametrize(
    ("signer", "code"),
    [
        ("responder-without-eku", "ocsp_responder_unauthorized"),
        ("responder-of-another-ca", "ocsp_responder_unauthorized"),
        ("stranger", "ocsp_responder_unauthorized"),
    ],
)
def test_unauthorised_responders_are_refused(signer: str, code: str) -> None:
    ca = make_ca()
    leaf = make_leaf(ca, 1003)
    request = build_ocsp_request(der(leaf), der(ca[1]))
    if signer == "responder-without-eku":
        chosen = make_responder(ca, eku=False)
    elif signer == "responder-of-another-ca":
        chosen = make_responder(make_ca("other", "ДРУГОЙ УЦ"))
    else:
        chosen = make_ca("stranger", "ЧУЖОЙ")
    body = make_response(leaf, ca, chosen, nonce=request.nonce)
    with pytest.raises(OcspError) as caught:
        verify_ocsp_response(body, request, der(ca[1]), NOW)
    assert caught.value.code == code


def test_nonce_policy_and_next_update() -> None:
    ca = make_ca()
    leaf = make_leaf(ca, 1004)
    request = build_ocsp_request(der(leaf), der(ca[1]))
    silent = make_response(leaf, ca, ca, nonce=None)
    with pytest.raises(OcspError) as caught:
        verify_ocsp_response(silent, request, der(ca[1]), NOW)
    assert caught.value.code == "ocsp_nonce_missing"
    assert verify_ocsp_response(silent, request, der(ca[1]), NOW, require_nonce=False).status == OcspStatus.GOOD

    dated = make_response(
        leaf, ca, ca, nonce=request.nonce, this_update=NOW - timedelta(days=3), next_update=NOW - timedelta(days=1)
    )
    with pytest.raises(OcspError) as caught:
        verify_ocsp_response(dated, request, der(ca[1]), NOW)
    assert caught.value.code == "ocsp_stale"
    # with a nextUpdate ahead, an older thisUpdate is fine (the max_age window is for NCA's missing one)
    ahead = make_response(
        leaf, ca, ca, nonce=request.nonce, this_update=NOW - timedelta(days=3), next_update=NOW + timedelta(days=1)
    )
    assert verify_ocsp_response(ahead, request, der(ca[1]), NOW).status == OcspStatus.GOOD


def test_answer_for_another_serial_is_refused() -> None:
    ca = make_ca()
    request = build_ocsp_request(der(make_leaf(ca, 1005)), der(ca[1]))
    body = make_response(make_leaf(ca, 1006), ca, ca, nonce=request.nonce)
    with pytest.raises(OcspError) as caught:
        verify_ocsp_response(body, request, der(ca[1]), NOW)
    assert caught.value.code == "ocsp_mismatch"
    assert asn1_x509.Certificate.load(der(make_leaf(ca, 1005))).serial_number == request.cert_id.serial


def test_certificate_der_returns_the_signed_bytes_untouched() -> None:
    """asn1crypto re-encodes lengths ending in 0x80, as the delegated 2004 responder certificate has."""
    from authsvc.pki.crl_index import certificate_der, der_content, der_fields

    basic = asn1_ocsp.OCSPResponse.load(nca_case(1)[0])["response_bytes"]["response"].contents
    responder_der = der_fields(der_content(der_fields(basic)[3]))[0]
    assert responder_der[:4] == bytes.fromhex("30820380")
    cert = asn1_x509.Certificate.load(responder_der)
    assert certificate_der(cert) == responder_der
    for parts in (("ca", "nca_gost2015_test.cer"), ("p12", "KEY_CEO_REVOKED_2015.cert.pem")):
        raw = read(*parts)
        assert certificate_der(asn1_x509.Certificate.load(raw)) == raw
