"""Path validation to pinned anchors at a chosen moment (R-7.1): NCA fixtures and built hierarchies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from authsvc.pki.certinfo import cert_info
from authsvc.pki.path import PathValidator
from tests.pki.certmaker import Signer, ec_key, gost_key, issue, rsa_key
from tests.pki.nca_material import (
    AT_2004,
    AT_2015,
    AT_DANIKARIK,
    AT_VALID_SIGN_2004,
    GOST_2004_CA,
    GOST_2015_CA,
    RSA_CA,
    nca_validator,
    read,
)

DK = "danikarik-ncanode-go"
PINNED = [
    (("ncanode", "certs", "individual_valid_sign_2004_rsa.cer"), AT_2004, RSA_CA),
    (("ncanode", "certs", "individual_valid_sign_2004_rsa_auth.cer"), AT_2004, RSA_CA),
    (("ncanode", "certs", "ceo_valid_sign_2004_gost.cer"), AT_2004, GOST_2004_CA),
    (("ncanode", "p12", "KEY_CEO_SIGN_REVOKED_2004.cert.pem"), AT_2004, GOST_2004_CA),
    (("ncanode", "p12", "KEY_INDIVIDUAL_VALID_SIGN_2004.cert.pem"), AT_VALID_SIGN_2004, RSA_CA),
    (("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.cert.pem"), AT_2015, GOST_2015_CA),
    (("ncanode", "p12", "KEY_CEO_REVOKED_2015.cert.pem"), AT_2015, GOST_2015_CA),
    ((DK, "personal", "active", "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9.cer"), AT_DANIKARIK, RSA_CA),
    (
        (DK, "organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.cer"),
        AT_DANIKARIK,
        GOST_2004_CA,
    ),
]


@pytest.mark.parametrize(("path", "at", "ca"), PINNED, ids=[p[0][-1][:30] for p in PINNED])
async def test_nca_leaf_chains_to_its_pinned_ca(path: tuple[str, ...], at: datetime, ca: tuple[str, ...]) -> None:
    result = await nca_validator().validate(read(*path), at=at)
    assert result.ok, (result.reasons, result.detail)
    leaf, anchor = result.chain
    assert leaf.serial_number == cert_info(read(*path)).serial_number
    assert anchor.fingerprint_sha256 == cert_info(read(*ca)).fingerprint_sha256
    ((cert, issuer),) = result.revocation_pairs
    assert cert.sha256 != issuer.sha256 and issuer.subject == cert.issuer
    assert "certificates" not in result.model_dump()


@pytest.mark.parametrize(
    ("moment", "reason"),
    [(datetime.now(UTC), "expired"), (datetime(2021, 1, 1, tzinfo=UTC), "not_yet_valid")],
)
async def test_outside_validity_is_a_named_reason(moment: datetime, reason: str) -> None:
    result = await nca_validator().validate(read("ncanode", "certs", "individual_valid_sign_2004_rsa.cer"), at=moment)
    assert not result.ok and result.reasons == [reason]
    assert result.chain[0].serial_number == "41E45CC8A04C705963E5CD6769848A934D8EAEF5"


async def test_rsa_leaf_against_gost_ca_has_no_path() -> None:
    only_gost = PathValidator([read(*GOST_2015_CA), read(*GOST_2004_CA)])
    result = await only_gost.validate(read("ncanode", "certs", "individual_valid_sign_2004_rsa.cer"), at=AT_2004)
    assert not result.ok and result.reasons == ["no_path"]


async def test_key_usage_requirement() -> None:
    """A legacy AUTH key (digitalSignature + keyEncipherment) may log in but not sign a contract (R-10.1)."""
    auth = read("ncanode", "certs", "individual_valid_sign_2004_rsa_auth.cer")
    assert (await nca_validator().validate(auth, at=AT_2004, required_key_usage=("digital_signature",))).ok
    signing = await nca_validator().validate(auth, at=AT_2004, required_key_usage=("non_repudiation",))
    assert not signing.ok and signing.reasons == ["key_usage"]


@pytest.mark.parametrize("make_key", [rsa_key, ec_key, gost_key], ids=["rsa", "ecdsa", "gost2015"])
async def test_three_level_chain_with_intermediate(make_key: Callable[[], tuple[bytes, Signer, str]]) -> None:
    """Root -> intermediate -> leaf, as in production NCA; GOST intermediates need the asn1crypto shim."""
    root = issue("Root", make_key(), ca=True)
    inter = issue("Intermediate", make_key(), root, ca=True, serial=2)
    leaf = issue("Leaf", make_key(), inter, serial=3)
    result = await PathValidator([root.cert], [inter.cert]).validate(leaf.cert, at=datetime.now(UTC))
    assert result.ok, result.detail
    assert [c.subject.common_name for c in result.chain] == ["Leaf", "Intermediate", "Root"]
    assert [(a.subject.native["common_name"], b.subject.native["common_name"]) for a, b in result.revocation_pairs] == [
        ("Leaf", "Intermediate"),
        ("Intermediate", "Root"),
    ]


async def test_anchor_is_pinned_by_certificate_not_by_name() -> None:
    """An impostor root with the pinned root's name signs a leaf: the leaf must not validate."""
    pinned = issue("NCA Root", rsa_key(), ca=True)
    impostor = issue("NCA Root", rsa_key(), ca=True)
    leaf = issue("Victim", rsa_key(), impostor, serial=7)
    result = await PathValidator([pinned.cert]).validate(leaf.cert, at=datetime.now(UTC))
    assert not result.ok and result.reasons == ["bad_signature"]
    with_impostor = await PathValidator([pinned.cert]).validate(
        leaf.cert, at=datetime.now(UTC), other_certs=[impostor.cert]
    )
    assert not with_impostor.ok


async def test_chain_to_an_unpinned_self_signed_root_is_untrusted_root() -> None:
    stranger = issue("Stranger Root", ec_key(), ca=True)
    leaf = issue("Leaf", ec_key(), stranger, serial=5)
    result = await nca_validator().validate(leaf.cert, at=datetime.now(UTC), other_certs=[stranger.cert])
    assert not result.ok and result.reasons == ["untrusted_root"]


async def test_intermediate_fetched_through_injected_aia_fetcher() -> None:
    root = issue("Root", rsa_key(), ca=True)
    inter = issue("Intermediate", rsa_key(), root, ca=True, serial=2)
    url = "http://pki.example/inter.cer"
    leaf = issue("Leaf", rsa_key(), inter, serial=3, ca_issuers_url=url)
    asked: list[str] = []

    async def fetch(address: str) -> bytes | None:
        asked.append(address)
        return inter.cert.dump() if address == url else None

    now = datetime.now(UTC)
    assert (await PathValidator([root.cert], aia_fetcher=fetch).validate(leaf.cert, at=now)).ok
    assert asked == [url]
    without = await PathValidator([root.cert]).validate(leaf.cert, at=now)
    assert without.reasons == ["no_path"]

    async def broken(address: str) -> bytes | None:
        raise OSError("connection refused")

    assert (await PathValidator([root.cert], aia_fetcher=broken).validate(leaf.cert, at=now)).reasons == ["no_path"]


async def test_expired_intermediate_is_expired() -> None:
    root = issue("Root", rsa_key(), ca=True, days=3650)
    start = datetime.now(UTC) - timedelta(days=40)
    inter = issue("Intermediate", rsa_key(), root, ca=True, serial=2, not_before=start, days=10)
    leaf = issue("Leaf", rsa_key(), inter, serial=3)
    result = await PathValidator([root.cert], [inter.cert]).validate(leaf.cert, at=datetime.now(UTC))
    assert not result.ok and result.reasons == ["expired"]


def test_sync_entry_point_for_worker_processes() -> None:
    result = nca_validator().validate_sync(read("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.cert.pem"), at=AT_2015)
    assert result.ok


async def test_garbage_certificate_is_a_result_not_an_exception() -> None:
    result = await nca_validator().validate(b"\x30\x82\x01\x00garbage", at=AT_2015)
    assert not result.ok and result.reasons == ["bad_certificate"]
