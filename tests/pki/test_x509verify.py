"""Raw signature + certificate verification (NCANode /x509/verify), e.g. a signed log-in challenge."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from authsvc.pki import gost
from authsvc.pki.certinfo import CertificateParseError
from authsvc.pki.path import PathValidator
from authsvc.pki.x509verify import verify_raw
from tests.pki.certmaker import Signer, ec_key, issue, rsa_key
from tests.pki.nca_material import AT_2004, AT_2015, nca_validator, read


@pytest.mark.parametrize(
    ("p12", "password", "at", "sig_oid"),
    [
        ("KEY_INDIVIDUAL_VALID_2015.p12", "Aa123456", AT_2015, "1.2.398.3.10.1.1.2.3.2"),
        ("KEY_CEO_SIGN_REVOKED_2004.p12", "Qwerty12", AT_2004, "1.2.398.3.10.1.1.1.2"),
    ],
    ids=["gost2015-512", "gost2004"],
)
async def test_challenge_signed_with_real_nca_gost_key(p12: str, password: str, at: datetime, sig_oid: str) -> None:
    key, _certs = gost.load_nca_pkcs12(read("ncanode", "p12", p12), password)
    assert key is not None
    cert = read("ncanode", "p12", p12.replace(".p12", ".cert.pem"))
    nonce = secrets.token_bytes(32)
    signature = gost.sign(key, sig_oid, nonce)
    result = await verify_raw(cert, nonce, signature, validator=nca_validator(), at=at)
    assert result.valid, (result.reasons, result.detail)
    assert result.signature_algorithm == sig_oid
    other = await verify_raw(cert, nonce + b"!", signature, validator=nca_validator(), at=at)
    assert not other.valid and other.reasons == ["bad_signature"]


@pytest.mark.parametrize("make_key", [rsa_key, ec_key], ids=["rsa", "ecdsa"])
async def test_challenge_rsa_and_ecdsa(make_key: Callable[[], tuple[bytes, Signer, str]]) -> None:
    root = issue("Root", make_key(), ca=True)
    leaf_key = make_key()
    leaf = issue("Client", leaf_key, root, serial=9)
    signature = leaf_key[1](b"nonce")
    validator = PathValidator([root.cert])
    now = datetime.now(UTC)
    assert (await verify_raw(leaf.cert.dump(), b"nonce", signature, validator=validator, at=now)).valid
    flipped = signature[:-1] + bytes([signature[-1] ^ 0x80])
    bad = await verify_raw(leaf.cert, b"nonce", flipped, validator=validator, at=now)
    assert bad.reasons == ["bad_signature"]
    expired = await verify_raw(leaf.cert, b"nonce", signature, validator=validator, at=datetime(2099, 1, 1, tzinfo=UTC))
    assert expired.signature_valid and expired.reasons == ["expired"]


async def test_unreadable_certificate_is_named() -> None:
    with pytest.raises(CertificateParseError):
        await verify_raw(b"\x30\x03\x02\x01\x00", b"x", b"y", validator=nca_validator(), at=AT_2015)
