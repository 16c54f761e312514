"""CMS verification on NCA's real test signatures at their pinned times (fixtures README), R-7.1/R-10.1."""

from __future__ import annotations

import base64
import pickle
from datetime import UTC, datetime

import pytest
from asn1crypto import cms

from authsvc.pki.cms import CmsParseError, TimestampVerdict, verify_cms, verify_cms_sync
from authsvc.pki.der import BadEncoding
from authsvc.pki.path import PathValidator
from tests.pki.nca_material import (
    AT_2015,
    AT_DANIKARIK,
    AT_VALID_SIGN_2004,
    GOST_2015_CA,
    nca_validator,
    read,
)

GOST_2015_SIGNER = "0FF06211DC82BEB00253FFA000F1DE84ABEF454F"  # KEY_INDIVIDUAL_VALID_2015, IIN123456789012
RSA_SIGNER = "4279390A141F5353A62947B61ED65E81741467D1"  # KEY_INDIVIDUAL_VALID_SIGN_2004, IIN123456789011
DANIKARIK = [
    ("organization", "active", "AUTH_RSA256_d682726b55b3e62600ea8fe1c74e75fc96f47790.cms", "legal_entity"),
    ("organization", "active", "GOSTKNCA_13a3741b52d7bf860aab199b56fad1f4652e357b.cms", "legal_entity"),
    ("organization", "revoked", "AUTH_RSA256_7d6d313ac5bf7367a2a69f28607a8deb80dd3ba9.cms", "legal_entity"),
    ("organization", "revoked", "GOSTKNCA_c372b7809440fcb681051bbc89ea2f089fd2fe16.cms", "legal_entity"),
    ("personal", "active", "AUTH_RSA256_b2c70a9ff7a5dc59de0ccc3c0ddde3437cc1f12d.cms", "individual"),
    ("personal", "active", "RSA256_11c707bd54cbfcccb3815e39c4eb57b1dc7dfea9.cms", "individual"),
    ("personal", "revoked", "AUTH_RSA256_60d5a0346dd52fb5f3b9148e6cfbcd6cf323d119.cms", "individual"),
    ("personal", "revoked", "RSA256_346a7e57c2995259140b6fc375b6ff3bba7e852f.cms", "individual"),
]


def _one_signer() -> bytes:
    return read("ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s")


async def test_one_signer_rsa_attached_is_valid_at_its_pinned_time() -> None:
    result = await verify_cms(_one_signer(), validator=nca_validator(), at=AT_VALID_SIGN_2004)
    assert result.valid and not result.detached
    assert result.content == b"test123"
    (signer,) = result.signers
    assert signer.signer is not None and signer.signer.serial_number == RSA_SIGNER
    assert signer.signer.subject.iin == "123456789011"
    assert signer.signing_time == datetime(2022, 9, 28, 14, 40, 30, tzinfo=UTC)
    assert (signer.digest_algorithm, signer.signature_algorithm) == ("2.16.840.1.101.3.4.2.1", "1.2.840.113549.1.1.11")
    assert signer.time_source == "given" and signer.path is not None and len(signer.path.chain) == 2


@pytest.mark.parametrize("name", ["SIGNED_CMS.p7s", "SIGNED_DETACHED_CMS.p7s"])
async def test_two_signers_gost_2015_and_rsa_each_at_its_own_time(name: str) -> None:
    """GOST-2015 signer valid on 2022-08-01 (RSA cert expired by then); RSA signer valid on 2021-06-01."""
    content = read("ncanode", "cms", "detached_content_test123.bin") if "DETACHED" in name else None
    data = read("ncanode", "cms", name)
    late = await verify_cms(data, validator=nca_validator(), content=content, at=AT_2015)
    early = await verify_cms(data, validator=nca_validator(), content=content, at=AT_VALID_SIGN_2004)
    assert late.detached == (content is not None)
    assert [s.signer.serial_number for s in late.signers if s.signer] == [GOST_2015_SIGNER, RSA_SIGNER]
    assert all(s.signature_valid for s in late.signers + early.signers)
    assert [s.reasons for s in late.signers] == [[], ["expired"]]
    assert [s.reasons for s in early.signers] == [["not_yet_valid"], []]
    assert late.signers[0].digest_algorithm == "1.2.398.3.10.1.3.3"
    assert late.signers[0].signature_algorithm == "1.2.398.3.10.1.1.2.3.2"
    assert not late.valid and not early.valid  # one of two signers is outside its validity either way


async def test_detached_without_content_is_a_named_failure() -> None:
    result = await verify_cms(read("ncanode", "cms", "SIGNED_DETACHED_CMS.p7s"), validator=nca_validator(), at=AT_2015)
    assert not result.valid and result.detached
    assert [s.reasons for s in result.signers] == [["detached_content_missing"]] * 2


async def test_detached_with_other_content_fails_on_message_digest() -> None:
    data = read("ncanode", "cms", "SIGNED_DETACHED_CMS.p7s")
    result = await verify_cms(data, validator=nca_validator(), content=b"test124", at=AT_2015)
    assert all("message_digest_mismatch" in s.reasons for s in result.signers)
    assert not result.valid


@pytest.mark.parametrize(("folder", "state", "name", "subject_type"), DANIKARIK, ids=[d[2][:20] for d in DANIKARIK])
async def test_danikarik_attached_cms(folder: str, state: str, name: str, subject_type: str) -> None:
    data = read("danikarik-ncanode-go", folder, state, name)
    assert data[:4] == b"MIII" or data[:2] == b"MI"  # these are base64 text, as NCALayer returns them
    result = await verify_cms(data, validator=nca_validator(), at=AT_DANIKARIK)
    assert result.valid, [s.reasons for s in result.signers]
    assert result.content == read("danikarik-ncanode-go", "cms_content_asdasd.bin")
    (signer,) = result.signers
    assert signer.signer is not None and signer.signer.subject_type == subject_type


async def test_expired_at_now_is_a_verdict_not_an_exception() -> None:
    result = await verify_cms(_one_signer(), validator=nca_validator())
    (signer,) = result.signers
    assert not result.valid and signer.signature_valid
    assert signer.reasons == ["expired"] and signer.time_source == "now"


async def test_base64_and_pem_inputs() -> None:
    der = _one_signer()
    b64 = base64.b64encode(der).decode()
    pem = "-----BEGIN CMS-----\n" + "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64)) + "\n-----END CMS-----\n"
    for form in (b64, pem, b64.encode()):
        assert (await verify_cms(form, validator=nca_validator(), at=AT_VALID_SIGN_2004)).valid


async def test_tampered_attached_content_fails_on_message_digest() -> None:
    der = _one_signer()
    assert der.count(b"test123") == 1
    result = await verify_cms(der.replace(b"test123", b"test124"), validator=nca_validator(), at=AT_VALID_SIGN_2004)
    assert not result.valid
    assert result.signers[0].reasons == ["message_digest_mismatch"]


def _flip_signature_bit(der: bytes, signer_index: int = 0) -> bytes:
    info = cms.ContentInfo.load(der)
    signature = info["content"]["signer_infos"][signer_index]["signature"].native
    assert der.count(signature) == 1
    at = der.index(signature) + len(signature) // 2
    return der[:at] + bytes([der[at] ^ 0x01]) + der[at + 1 :]


@pytest.mark.parametrize("signer_index", [0, 1])
async def test_bit_flipped_signature_fails_with_bad_signature(signer_index: int) -> None:
    """Signer 0 is GOST-2015-512, signer 1 RSA: both reject a one-bit change in their signature."""
    der = _flip_signature_bit(read("ncanode", "cms", "SIGNED_CMS.p7s"), signer_index)
    result = await verify_cms(der, validator=nca_validator(), at=AT_2015)
    flipped = result.signers[signer_index]
    assert not flipped.signature_valid and "bad_signature" in flipped.reasons


async def test_rsa_signer_against_gost_anchor_has_no_path() -> None:
    gost_only = PathValidator([read(*GOST_2015_CA)])
    result = await verify_cms(_one_signer(), validator=gost_only, at=AT_VALID_SIGN_2004)
    (signer,) = result.signers
    assert signer.signature_valid and signer.reasons == ["no_path"] and not result.valid


def _with_timestamp_token(der: bytes) -> bytes:
    """Attach NCA's real RFC 3161 token as an unsigned attribute (unsigned: the signature stays valid)."""
    info = cms.ContentInfo.load(der)
    signer = info["content"]["signer_infos"][0]
    token = cms.ContentInfo.load(read("ncanode", "tsp", "tsp_token.bin"))
    signer["unsigned_attrs"] = [{"type": "signature_time_stamp_token", "values": [token]}]
    return bytes(info.dump(force=True))


async def test_timestamp_token_goes_to_the_hook_and_its_gen_time_is_used() -> None:
    der = _with_timestamp_token(_one_signer())
    seen: list[tuple[bytes, bytes]] = []

    async def tsp_layer(token: bytes, signature: bytes) -> TimestampVerdict:
        seen.append((token, signature))
        return TimestampVerdict(valid=True, gen_time=AT_VALID_SIGN_2004)

    result = await verify_cms(der, validator=nca_validator(), timestamp_hook=tsp_layer)
    (signer,) = result.signers
    assert seen and seen[0][0] == read("ncanode", "tsp", "tsp_token.bin")
    assert seen[0][1] == cms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native
    assert (signer.time_source, signer.validated_at, result.valid) == ("timestamp", AT_VALID_SIGN_2004, True)


async def test_rejected_timestamp_is_not_used_for_time() -> None:
    der = _with_timestamp_token(_one_signer())

    async def tsp_layer(token: bytes, signature: bytes) -> TimestampVerdict:
        return TimestampVerdict(valid=False, gen_time=AT_VALID_SIGN_2004, reasons=["imprint_mismatch"])

    (signer,) = (await verify_cms(der, validator=nca_validator(), timestamp_hook=tsp_layer)).signers
    assert signer.time_source == "now"
    assert signer.reasons == ["timestamp_invalid", "expired"]


@pytest.mark.parametrize(
    "junk", [b"", b"not base64 at all!", b"\x30\x00", base64.b64encode(b"\x30\x03\x06\x01\x00"), b"MIIB"]
)
async def test_unreadable_cms_is_a_named_error(junk: bytes) -> None:
    with pytest.raises((CmsParseError, BadEncoding)) as caught:
        await verify_cms(junk, validator=nca_validator(), at=AT_2015)
    assert caught.value.code in {"bad_cms", "bad_encoding"}


async def test_attached_content_must_match_supplied_content() -> None:
    result = await verify_cms(_one_signer(), validator=nca_validator(), content=b"other", at=AT_VALID_SIGN_2004)
    assert not result.valid and result.reasons == ["content_mismatch"]
    assert result.signers[0].valid  # the signature over the embedded content is fine; the pairing is not


def test_results_and_validator_cross_process_boundaries() -> None:
    """GOST verification runs in a process pool (DESIGN.md §4): inputs and results must pickle."""
    validator = pickle.loads(pickle.dumps(nca_validator()))
    result = verify_cms_sync(read("ncanode", "cms", "SIGNED_CMS.p7s"), validator=validator, at=AT_2015)
    copy = pickle.loads(pickle.dumps(result))
    assert copy.model_dump() == result.model_dump()
    path = copy.signers[0].path
    assert path is not None and len(path.revocation_pairs) == 1
