"""The Verifier facade and the trust store on real NCA test-PKI data: revocation verdicts from the fixtures'
CRLs at their pinned times, hard- and soft-fail, trust loading from files and URLs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from asn1crypto import cms

from authsvc import error_codes
from authsvc.config import REPO_ROOT, load_settings
from authsvc.errors import ConfigError, UpstreamUnavailable
from authsvc.pki.revocation import RevocationOrder, RevocationPolicy
from authsvc.pki.service import Verifier, order_for
from authsvc.pki.trust import TrustStore, read_certificates
from authsvc.pki.workers import attach, cms_job
from simulators.nca.signer import KeyPair, sign_cms
from tests.pki.nca_material import AT_2004, AT_2015, AT_VALID_SIGN_2004, GOST_2004_CA, GOST_2015_CA, RSA_CA, read
from tests.shared import fixture_path

CRLS = {RSA_CA: "nca_rsa_test.crl", GOST_2004_CA: "nca_gost_test.crl", GOST_2015_CA: "nca_gost2022_test.crl"}


async def _fetch_fixture_crl(url: str) -> bytes:
    return read("ncanode", "crl", url.rsplit("/", 1)[1])


async def _verifier(ca: tuple[str, str, str], at: datetime, tmp: Path, *, hard_fail: bool = True) -> Verifier:
    """Trust one NCA test CA; its CRL from the fixtures, judged by a clock pinned at ``at``."""
    ca_file = str(fixture_path("nca", *ca))
    verifier = Verifier(
        TrustStore(anchor_files=[ca_file]),
        policy=RevocationPolicy(order=RevocationOrder.CRL_ONLY, hard_fail=hard_fail),
        executor=None,
        crl_sources=[(f"http://crl.test/{CRLS[ca]}", None, ca_file)],
        crl_fetch=_fetch_fixture_crl,
        crl_dir=tmp,
        clock=lambda: at,
    )
    await verifier.start()
    await verifier.wait_started()
    assert verifier.crl_cache is not None
    assert all((await verifier.crl_cache.refresh()).values())
    return verifier


@pytest.fixture
async def closing() -> AsyncIterator[list[Verifier]]:
    opened: list[Verifier] = []
    yield opened
    for verifier in opened:
        await verifier.close()


@pytest.mark.parametrize(
    ("cert", "ca", "at", "reasons", "revocation_time", "reason"),
    [
        ("KEY_INDIVIDUAL_SIGN_REVOKED_2004", RSA_CA, AT_2004, ["revoked"], "2022-01-18T04:40:24+00:00", "superseded"),
        ("KEY_INDIVIDUAL_AUTH_REVOKED_2004", RSA_CA, AT_2004, ["revoked"], "2022-01-18T04:41:12+00:00", "superseded"),
        ("KEY_CEO_SIGN_REVOKED_2004", GOST_2004_CA, AT_2004, ["revoked"], "2022-01-18T04:47:37+00:00", "superseded"),
        ("KEY_CEO_REVOKED_2015", GOST_2015_CA, AT_2015, ["revoked"], "2022-07-27T10:25:30+00:00", "certificate_hold"),
        ("KEY_INDIVIDUAL_VALID_2015", GOST_2015_CA, AT_2015, [], None, None),
    ],
)
async def test_revocation_verdicts_from_the_fixture_crls(
    cert: str,
    ca: tuple[str, str, str],
    at: datetime,
    reasons: list[str],
    revocation_time: str | None,
    reason: str | None,
    tmp_path: Path,
    closing: list[Verifier],
) -> None:
    verifier = await _verifier(ca, at, tmp_path)
    closing.append(verifier)
    report = await verifier.certificate(read("ncanode", "p12", cert + ".cert.pem"), at=at)
    assert report.reasons == reasons and report.valid == (not reasons)
    [answer] = report.revocations
    assert answer.source == "crl" and answer.revoked == bool(reasons)
    assert (answer.revocation_time.isoformat() if answer.revocation_time else None) == revocation_time
    assert answer.reason == reason and answer.serial == report.certificate.serial_number
    moment = datetime.fromisoformat(revocation_time).replace(second=0) if revocation_time else None
    if moment is not None and moment > report.certificate.not_before:
        # judged before its revocation: good, and the answer says it was revoked later
        before = await verifier.certificate(read("ncanode", "p12", cert + ".cert.pem"), at=moment)
        assert before.revocations[0].status == "good" and before.revocations[0].revoked_after_validation_time


async def test_revoked_signer_of_a_real_cms_is_reported(tmp_path: Path, closing: list[Verifier]) -> None:
    """SIGNED_CMS.p7s: its GOST-2015 signer is on no CRL entry; its RSA signer does not chain to this anchor."""
    verifier = await _verifier(GOST_2015_CA, AT_2015, tmp_path)
    closing.append(verifier)
    report = await verifier.verify_cms(read("ncanode", "cms", "SIGNED_CMS.p7s"), at=AT_2015)
    gost, rsa = report.signers
    assert gost.valid and gost.revocations[0].status == "good" and gost.revocations[0].crl_number == 4
    assert rsa.reasons == ["no_path"] and rsa.revocations == []  # no revocation asked for an unchained signer


async def test_hard_fail_and_soft_fail_without_revocation_data(tmp_path: Path, closing: list[Verifier]) -> None:
    """The RSA CA's leaf asked of a verifier holding only the GOST-2015 CRL: no source can answer."""
    for hard, reasons, status in ((True, ["revocation_unavailable"], None), (False, [], "unknown")):
        ca_file = str(fixture_path("nca", *RSA_CA))
        verifier = Verifier(
            TrustStore(anchor_files=[ca_file]),
            policy=RevocationPolicy(order=RevocationOrder.OCSP_THEN_CRL, hard_fail=hard),
            executor=None,
        )
        closing.append(verifier)
        await verifier.start()
        report = await verifier.certificate(read("ncanode", "certs", "individual_valid_sign_2004_rsa.cer"), at=AT_2004)
        assert report.reasons == reasons, hard
        assert [r.status for r in report.revocations] == ([status] if status else [])
        if status:
            assert report.valid and report.revocations[0].source == "none" and report.revocations[0].errors


def test_revocation_check_lists_map_to_orders() -> None:
    assert order_for([]) is None
    assert order_for(["ocsp"]) == RevocationOrder.OCSP_ONLY
    assert order_for(["crl"]) == RevocationOrder.CRL_ONLY
    assert order_for(["ocsp", "crl"]) == RevocationOrder.OCSP_THEN_CRL
    assert order_for(["crl", "ocsp", "crl"]) == RevocationOrder.CRL_THEN_OCSP


async def test_trust_from_a_pem_bundle_and_from_urls(tmp_path: Path) -> None:
    bundle = tmp_path / "roots.pem"
    bundle.write_text(
        read("ncanode", "ca", "NCA_2004_RSA_CERT_from_groovy.cert.pem").decode() * 2
        + read("ncanode", "ca", "NCA_2004_GOST_CERT_from_groovy.cert.pem").decode()
    )
    store = TrustStore(anchor_files=[str(bundle)])
    store.start()
    assert store.ready and len(store.bundle().anchors) == 2  # duplicates collapse; pinned by content

    answers: dict[str, bytes] = {}

    async def fetch(url: str) -> bytes:
        if url not in answers:
            raise UpstreamUnavailable(f"{url} is unreachable", code=error_codes.UPSTREAM_UNREACHABLE)
        return answers[url]

    remote = TrustStore(
        anchor_urls=["http://nca.test/root.cer"],
        intermediate_urls=["http://nca.test/ca.cer"],
        fetch=fetch,
        retry_s=0.01,
    )
    remote.start()
    await asyncio.sleep(0.05)
    assert not remote.ready and remote.last_error is not None
    answers["http://nca.test/root.cer"] = read(*GOST_2015_CA)
    answers["http://nca.test/ca.cer"] = b"<html>Try again</html>"  # a bad answer never counts as loaded
    await asyncio.sleep(0.05)
    assert not remote.ready
    answers["http://nca.test/ca.cer"] = read(*RSA_CA)
    await asyncio.wait_for(remote.wait_ready(), 5)
    assert remote.bundle().anchors == (read(*GOST_2015_CA),) and remote.bundle().intermediates == tuple(
        read_certificates(read(*RSA_CA), "RSA CA")
    )
    await remote.close()


def test_unreadable_trust_files_are_configuration_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    for path in (tmp_path / "missing.cer", tmp_path / "junk.pem"):
        with pytest.raises(ConfigError):
            TrustStore(anchor_files=[str(path)]).load_files()
    with pytest.raises(ConfigError):
        TrustStore()


async def test_not_ready_means_a_503_not_a_verdict() -> None:
    async def never(url: str) -> bytes:
        raise UpstreamUnavailable("down", code=error_codes.UPSTREAM_UNREACHABLE)

    verifier = Verifier(
        TrustStore(anchor_urls=["http://nca.test/root.cer"], fetch=never, retry_s=10),
        policy=RevocationPolicy(),
        executor=None,
    )
    await verifier.start()
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            await verifier.verify_cms(read("ncanode", "cms", "SIGNED_CMS.p7s"))
        assert caught.value.code == "trust_not_ready" and not verifier.ready
    finally:
        await verifier.close()


def test_shipped_configs_trust_the_simulator_by_default_and_real_roots_by_file_in_production() -> None:
    default = load_settings(REPO_ROOT / "configs" / "default.toml", env={})
    assert all(u.startswith("http://127.0.0.1:8701/cert/") for u in default.pki.anchor_urls) and default.pki.anchor_urls
    production = load_settings(REPO_ROOT / "configs" / "production.example.toml", env={})
    assert production.pki.anchor_urls == [] and production.pki.intermediate_urls == []
    assert production.pki.anchor_files and not production.pki.test_mode_time_allowed and production.pki.hard_fail
    issuers = set(production.pki.anchor_files) | set(production.pki.intermediate_files)
    assert all(source.issuer in issuers for source in production.pki.crl_sources)


def test_remembered_chains_still_carry_their_certificates() -> None:
    """A chain served from the worker's memo must still name the issuer revocation is asked about."""
    store = TrustStore(anchor_files=[str(fixture_path("nca", *RSA_CA))])
    store.load_files()
    data = read("ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s")
    for _ in range(3):
        result, chains = cms_job(store.bundle(), False, data, None, AT_VALID_SIGN_2004, ("digital_signature",))
        [signer] = result.signers
        assert signer.valid and len(chains[0]) == 2
        attach([signer.path], chains)
        assert signer.path is not None and len(signer.path.revocation_pairs) == 1


async def test_signed_attributes_are_verified_as_received_even_out_of_der_order() -> None:
    """Some signers do not sort the SET OF signed attributes. The signature covers the bytes they sent, so
    they must be verified as received, not as a DER re-encoding (which would reorder them)."""
    pair = KeyPair.from_pkcs12(read("ncanode", "p12", "KEY_INDIVIDUAL_VALID_SIGN_2004.p12"), "Qwerty12")
    der = sign_cms(pair, b"unsorted", signing_time=AT_VALID_SIGN_2004)
    signer = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    received = signer["signed_attrs"].dump()
    header = len(received) - len(signer["signed_attrs"].contents)
    attributes = [received[header + start : header + end] for start, end in _tlv_spans(signer["signed_attrs"].contents)]
    assert len(attributes) >= 3 and attributes != attributes[::-1]
    unsorted = received[:header] + b"".join(reversed(attributes))
    resigned = pair.signer.sign(b"\x31" + unsorted[1:])
    der = der.replace(received, unsorted).replace(signer["signature"].native, resigned)
    verifier = Verifier(
        TrustStore(anchor_files=[str(fixture_path("nca", *RSA_CA))]), policy=RevocationPolicy(), executor=None
    )
    await verifier.start()
    try:
        report = await verifier.verify_cms(der, at=AT_VALID_SIGN_2004, revocation=None)
    finally:
        await verifier.close()
    assert report.valid and report.signers[0].signature_valid, report.signers[0].reasons


def _tlv_spans(contents: bytes) -> list[tuple[int, int]]:
    """(start, end) of each DER element in ``contents`` (definite lengths)."""
    spans, pos = [], 0
    while pos < len(contents):
        length, head = contents[pos + 1], 2
        if length & 0x80:
            octets = length & 0x7F
            length, head = int.from_bytes(contents[pos + 2 : pos + 2 + octets], "big"), 2 + octets
        spans.append((pos, pos + head + length))
        pos += head + length
    return spans
