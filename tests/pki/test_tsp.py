"""RFC 3161 time stamps: NCA's real GOST token and response, and synthetic tokens that break one rule each."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from authsvc import error_codes
from authsvc.errors import UpstreamUnavailable
from authsvc.pki.tsp import (
    TimestampError,
    build_timestamp_request,
    make_timestamp_hook,
    parse_timestamp_response,
    validate_timestamp,
    verify_timestamp_token,
)
from tests.pki.test_crl import der, make_ca, read, rsa_key

IMPRINT_DATA = bytes.fromhex("CAFEBABE")
NONCE = 1663507112663
GEN_TIME = datetime(2022, 9, 18, 13, 20, 14, tzinfo=UTC)


def nca_token() -> bytes:
    return read("tsp", "tsp_token.bin")


def test_nca_token_is_verified_and_described() -> None:
    info = verify_timestamp_token(nca_token(), data=IMPRINT_DATA, nonce=NONCE, policies=["1.2.398.3.3.2.6.1"])
    assert info.gen_time == GEN_TIME
    assert info.policy == "1.2.398.3.3.2.6.1"
    assert info.serial == 0x5E846DD75D861154DB10F13C54DC1F8D33FE6ADC
    assert info.hash_algorithm == "1.3.14.3.2.26"
    assert info.hashed_message == hashlib.sha1(IMPRINT_DATA).digest()
    assert info.nonce == NONCE
    assert "СЕРВИС МЕТКИ ВРЕМЕНИ" in info.tsa_name
    assert asn1_x509.Certificate.load(info.tsa_certificate).serial_number == 0x622DDD64FC75397C61D228530BEEFE9E1CF87094


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"data": b"\xca\xfe\xba\xbf"}, "timestamp_imprint_mismatch"),
        ({"hashed_message": bytes(20)}, "timestamp_imprint_mismatch"),
        ({"nonce": NONCE + 1}, "timestamp_nonce_mismatch"),
        ({"policies": ["1.2.398.3.3.2.6.4"]}, "timestamp_policy_rejected"),
    ],
)
def test_nca_token_refused_for_other_data_nonce_or_policy(kwargs: dict[str, object], code: str) -> None:
    with pytest.raises(TimestampError) as caught:
        verify_timestamp_token(nca_token(), **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_tampered_nca_token_is_refused() -> None:
    tampered = nca_token().replace(b"20220918132014Z", b"20220918132015Z", 1)
    assert tampered != nca_token()
    with pytest.raises(TimestampError, match="messageDigest"):
        verify_timestamp_token(tampered)


@pytest.mark.parametrize("body", [b"", b"\x30\x00", b"<html>Try again</html>", nca_token.__name__.encode()])
def test_garbage_tokens_are_named_failures(body: bytes) -> None:
    with pytest.raises(TimestampError) as caught:
        verify_timestamp_token(body)
    assert caught.value.code in {"timestamp_malformed", "timestamp_invalid"}


def test_nca_response_yields_its_token() -> None:
    request = build_timestamp_request(IMPRINT_DATA, hash_algorithm="sha1", nonce=NONCE)
    assert parse_timestamp_response(read("tsp", "tsp_response.bin"), request) == nca_token()
    other = build_timestamp_request(IMPRINT_DATA, hash_algorithm="sha1", nonce=NONCE + 1)
    with pytest.raises(UpstreamUnavailable) as caught:
        parse_timestamp_response(read("tsp", "tsp_response.bin"), other)
    assert caught.value.code == "tsp_invalid"


def test_rejected_response_is_named() -> None:
    status = tsp.PKIStatusInfo({"status": "rejection", "status_string": ["bad request"]}).dump()
    refusal = bytes([0x30, len(status)]) + status  # TimeStampResp without a token
    with pytest.raises(UpstreamUnavailable) as caught:
        parse_timestamp_response(refusal, build_timestamp_request(IMPRINT_DATA))
    assert caught.value.code == "tsp_rejected" and "bad request" in caught.value.detail


def test_request_carries_imprint_nonce_and_cert_req() -> None:
    request = build_timestamp_request(b"signature value", policy="1.2.398.3.3.2.6.4")
    parsed = tsp.TimeStampReq.load(request.der)
    assert parsed["message_imprint"]["hashed_message"].native == hashlib.sha256(b"signature value").digest()
    assert parsed["nonce"].native == request.nonce and request.nonce is not None and request.nonce > 0
    assert parsed["cert_req"].native is True
    assert parsed["req_policy"].dotted == "1.2.398.3.3.2.6.4"
    with pytest.raises(ValueError, match="exactly one"):
        build_timestamp_request()


async def test_chain_hook_sees_the_tsa_certificate_at_gen_time() -> None:
    seen: list[tuple[int, datetime, int]] = []

    async def hook(cert: asn1_x509.Certificate, others: Sequence[asn1_x509.Certificate], at: datetime) -> None:
        seen.append((cert.serial_number, at, len(others)))

    info = await validate_timestamp(nca_token(), chain_hook=hook, data=IMPRINT_DATA)
    assert seen == [(0x622DDD64FC75397C61D228530BEEFE9E1CF87094, GEN_TIME, 0)]
    assert info.gen_time == GEN_TIME


async def test_cms_hook_checks_the_imprint_covers_the_signature() -> None:
    async def untrusted(cert: asn1_x509.Certificate, others: Sequence[asn1_x509.Certificate], at: datetime) -> None:
        raise TimestampError("TSA chain does not reach a trusted root", code=error_codes.TIMESTAMP_UNTRUSTED)

    verdict = await make_timestamp_hook(None)(nca_token(), IMPRINT_DATA)
    assert verdict.valid and verdict.gen_time == GEN_TIME
    assert verdict.details["policy"] == "1.2.398.3.3.2.6.1"
    wrong = await make_timestamp_hook(None)(nca_token(), b"another signature")
    assert not wrong.valid and wrong.reasons == ["timestamp_imprint_mismatch"]
    refused = await make_timestamp_hook(untrusted)(nca_token(), IMPRINT_DATA)
    assert not refused.valid and refused.reasons == ["timestamp_untrusted"]


# --- synthetic RSA TSA --------------------------------------------------------------------------------
NOW = datetime(2026, 5, 5, 10, 0, tzinfo=UTC)


def make_tsa(*, critical: bool = True, extra_purpose: bool = False) -> tuple[rsa.RSAPrivateKey, bytes]:
    ca_key, ca_cert = make_ca()
    purposes = [ExtendedKeyUsageOID.TIME_STAMPING]
    if extra_purpose:
        purposes.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "СЕРВИС МЕТКИ ВРЕМЕНИ TEST")]))
        .issuer_name(ca_cert.subject)
        .public_key(rsa_key("tsa").public_key())
        .serial_number(4242)
        .not_valid_before(NOW - timedelta(days=100))
        .not_valid_after(NOW + timedelta(days=100))
        .add_extension(x509.ExtendedKeyUsage(purposes), critical=critical)
        .sign(ca_key, hashes.SHA256())
    )
    return rsa_key("tsa"), der(cert)


def make_token(
    tsa: tuple[rsa.RSAPrivateKey, bytes], data: bytes, *, ess_for: bytes | None = None, gen_time: datetime = NOW
) -> bytes:
    key, cert_der = tsa
    cert = asn1_x509.Certificate.load(cert_der)
    tst = tsp.TSTInfo(
        {
            "version": "v1",
            "policy": "1.2.398.3.3.2.6.4",
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": hashlib.sha256(data).digest(),
            },
            "serial_number": 99,
            "gen_time": gen_time,
            "nonce": 5,
        }
    )
    attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [hashlib.sha256(tst.dump()).digest()]},
            {
                "type": "signing_certificate_v2",
                "values": [{"certs": [{"cert_hash": hashlib.sha256(ess_for or cert_der).digest()}]}],
            },
        ]
    )
    signature = key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
    signer = cms.SignerInfo(
        {
            "version": "v1",
            "sid": {"issuer_and_serial_number": {"issuer": cert.issuer, "serial_number": cert.serial_number}},
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": "sha256_rsa"},
            "signature": signature,
        }
    )
    signed = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "tst_info", "content": tst},
            "certificates": [cert],
            "signer_infos": [signer],
        }
    )
    token: bytes = cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()
    return token


def test_synthetic_rsa_token_verifies_with_signing_certificate_v2() -> None:
    info = verify_timestamp_token(make_token(make_tsa(), b"sig"), data=b"sig", nonce=5)
    assert info.gen_time == NOW and info.serial == 99 and info.hash_algorithm == "2.16.840.1.101.3.4.2.1"


@pytest.mark.parametrize(
    ("tsa_kwargs", "token_kwargs", "code"),
    [
        ({"critical": False}, {}, "timestamp_tsa_unauthorized"),
        ({"extra_purpose": True}, {}, "timestamp_tsa_unauthorized"),
        ({}, {"gen_time": NOW + timedelta(days=365)}, "timestamp_tsa_unauthorized"),
        ({}, {"ess_for": b"another certificate"}, "timestamp_invalid"),
    ],
    ids=["eku-not-critical", "eku-not-only-timestamping", "tsa-expired-at-gen-time", "ess-names-other-cert"],
)
def test_synthetic_tokens_breaking_one_rule_are_refused(
    tsa_kwargs: dict[str, bool], token_kwargs: dict[str, object], code: str
) -> None:
    token = make_token(make_tsa(**tsa_kwargs), b"sig", **token_kwargs)  # type: ignore[arg-type]
    with pytest.raises(TimestampError) as caught:
        verify_timestamp_token(token, data=b"sig")
    assert caught.value.code == code


def test_token_signed_by_another_key_is_refused() -> None:
    _, cert_der = make_tsa()
    forged = make_token((rsa_key("forger"), cert_der), b"sig")
    with pytest.raises(TimestampError) as caught:
        verify_timestamp_token(forged, data=b"sig")
    assert caught.value.code == "timestamp_signature_invalid"


async def test_tsa_chain_is_checked_against_pinned_nca_anchors() -> None:
    from authsvc.pki.path import PathValidator
    from authsvc.pki.tsp import path_chain_hook
    from tests.pki.nca_material import RSA_CA, nca_validator
    from tests.pki.nca_material import read as read_nca

    trusted = await validate_timestamp(nca_token(), chain_hook=path_chain_hook(nca_validator()), data=IMPRINT_DATA)
    assert trusted.gen_time == GEN_TIME
    only_rsa = PathValidator([read_nca(*RSA_CA)])
    with pytest.raises(TimestampError) as caught:
        await validate_timestamp(nca_token(), chain_hook=path_chain_hook(only_rsa), data=IMPRINT_DATA)
    assert caught.value.code == "timestamp_untrusted"
