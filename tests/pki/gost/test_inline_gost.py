"""A GOST 2015 CMS whose signer's path is remembered is verified on the event loop through the gost engine,
with exactly the verdict the pool gives (issue 17; `authsvc.pki.inline`, mirroring tests/pki/test_eds_cache.py
for RSA). First-seen chains, GOST 34.310-2004 signers, and every GOST CMS while the engine or OpenSSL's
Streebog is off, stay in the pool. R-7.1, R-12.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

from authsvc.pki import cms as cms_module
from authsvc.pki import gost
from authsvc.pki import path as path_module
from authsvc.pki.algorithms import verify_signature
from authsvc.pki.certinfo import load_certificate
from authsvc.pki.gost import fastpath
from authsvc.pki.service import Verifier
from simulators.nca.signer import KeyPair, sign_cms
from tests.pki.certmaker import Issued, gost_key, issue
from tests.pki.gost import material
from tests.pki.nca_material import AT_2015, GOST_2004_CA, GOST_2015_CA, read
from tests.pki.test_eds_cache import _forget_everything, _jobs, _on_loop, _uncached, _verifier, _warm

NOW = datetime.now(UTC).replace(microsecond=0)
CONTENT = b"loan contract 42"


@pytest.fixture(autouse=True)
def cold() -> Iterator[None]:
    assert gost.engine_curves() and gost.openssl_fast_path_active(), "libengine-gost-openssl is installed"
    _forget_everything()
    yield
    _forget_everything()
    gost.set_engine_enabled(True)
    gost.set_native_enabled(True)
    gost.set_openssl_fast_path(True)


@pytest.fixture
async def opened() -> AsyncIterator[list[Verifier]]:
    verifiers: list[Verifier] = []
    yield verifiers
    for verifier in verifiers:
        await verifier.close()


@dataclass
class GostHolder:
    root: Issued
    leaf: Issued
    pair: KeyPair


def _holder(root: Issued | None = None, *, days: int = 30) -> GostHolder:
    key = gost.generate_private_key("kz-gost2015-512")
    spki = gost.public_key_info_der(key.public_key(), "kz-gost2015-512")
    sig_oid = gost.SIGNATURE_ALGORITHMS["1.2.398.3.10.1.1.2.3.2"].oid
    root = root or issue("GOST Cache Root", gost_key(), ca=True, days=3650, not_before=NOW - timedelta(days=10))
    leaf = issue(
        "GOST Cache Signer",
        (spki, lambda d: gost.sign(key, sig_oid, d), sig_oid),
        root,
        serial=78,
        not_before=NOW - timedelta(days=1),
        days=days,
    )
    return GostHolder(root, leaf, KeyPair.from_der(leaf.cert.dump(), gost.private_key_pkcs8_der(key)))


@pytest.fixture(scope="module")
def holder() -> GostHolder:
    return _holder()


async def test_a_real_nca_gost_2015_cms_is_verified_on_the_loop_once_its_path_is_known(
    tmp_path: Path, opened: list[Verifier]
) -> None:
    verifier = await _verifier(opened, tmp_path, load_certificate(read(*GOST_2015_CA)))
    pair = KeyPair.from_pkcs12(read("ncanode", "p12", "KEY_INDIVIDUAL_VALID_2015.p12"), "Aa123456")
    data = sign_cms(pair, CONTENT, signing_time=AT_2015)
    report = await _warm(verifier, data, at=AT_2015, revocation=None)
    assert report.valid and report.signers[0].signature_algorithm == "1.2.398.3.10.1.1.2.3.2"
    assert await _on_loop(verifier, data, at=AT_2015, revocation=None) == await _uncached(
        verifier, data, at=AT_2015, revocation=None
    )
    late = AT_2015 + timedelta(days=3 * 365)
    await _warm(verifier, data, at=AT_2015, revocation=None)
    expired = (await verifier.verify_cms(data, at=late, revocation=None)).model_dump(mode="json")
    assert expired == await _uncached(verifier, data, at=late, revocation=None)
    assert not expired["valid"] and "expired" in expired["signers"][0]["reasons"]


async def test_verdicts_on_the_loop_equal_the_pools(holder: GostHolder, tmp_path: Path, opened: list[Verifier]) -> None:
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    assert (await _warm(verifier, data, at=NOW, revocation=None)).valid
    for moment, reason in ((NOW + timedelta(days=40), "expired"), (NOW - timedelta(days=2), "not_yet_valid")):
        warm = (await verifier.verify_cms(data, at=moment, revocation=None)).model_dump(mode="json")
        assert warm == await _uncached(verifier, data, at=moment, revocation=None)
        assert not warm["valid"] and warm["signers"][0]["reasons"] == [reason]
        await _warm(verifier, data, at=NOW, revocation=None)
    tampered = data.replace(CONTENT, b"loan contract 43")
    warm = await _on_loop(verifier, tampered, at=NOW, revocation=None)
    assert warm == await _uncached(verifier, tampered, at=NOW, revocation=None)
    assert warm["signers"][0]["reasons"] == ["message_digest_mismatch"]
    await _warm(verifier, data, at=NOW, revocation=None)
    signature = cms.ContentInfo.load(data)["content"]["signer_infos"][0]["signature"].native
    for forged_value in (material.flip(signature, 3), material.flip(signature, -1), bytes(len(signature))):
        forged = data.replace(signature, forged_value)
        bad = await _on_loop(verifier, forged, at=NOW, revocation=None)
        assert bad == await _uncached(verifier, forged, at=NOW, revocation=None)
        assert bad["signers"][0]["reasons"] == ["bad_signature"] and not bad["signers"][0]["signature_valid"]
        await _warm(verifier, data, at=NOW, revocation=None)
    detached = sign_cms(holder.pair, CONTENT, detached=True, signing_time=NOW)
    await _warm(verifier, detached, content=CONTENT, at=NOW, revocation=None)
    other = await _on_loop(verifier, detached, content=b"loan contract 43", at=NOW, revocation=None)
    assert other == await _uncached(verifier, detached, content=b"loan contract 43", at=NOW, revocation=None)
    assert other["signers"][0]["reasons"] == ["message_digest_mismatch"]


async def test_a_forged_chain_with_the_same_names_goes_to_the_pool(
    holder: GostHolder, tmp_path: Path, opened: list[Verifier]
) -> None:
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    await _warm(verifier, sign_cms(holder.pair, CONTENT, signing_time=NOW), at=NOW, revocation=None)
    forged = _holder(issue("GOST Cache Root", gost_key(), ca=True, days=3650, not_before=NOW - timedelta(days=10)))
    assert forged.leaf.cert.subject == holder.leaf.cert.subject
    data = sign_cms(forged.pair, CONTENT, signing_time=NOW)
    before = _jobs(verifier)
    warm = (await verifier.verify_cms(data, at=NOW, revocation=None)).model_dump(mode="json")
    assert _jobs(verifier) == before + 1
    assert warm == await _uncached(verifier, data, at=NOW, revocation=None)
    assert not warm["valid"] and warm["signers"][0]["reasons"]


@pytest.mark.parametrize("switch", ["c-and-engine", "streebog"])
async def test_without_a_c_verifier_or_openssl_streebog_gost_stays_in_the_pool(
    switch: str, holder: GostHolder, tmp_path: Path, opened: list[Verifier]
) -> None:
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    expected = await _warm(verifier, data, at=NOW, revocation=None)
    if switch == "streebog":
        fastpath.set_openssl_fast_path(False)
    else:
        gost.set_engine_enabled(False)
        gost.set_native_enabled(False)
    for _ in range(2):
        before = _jobs(verifier)
        report = await verifier.verify_cms(data, at=NOW, revocation=None)
        assert _jobs(verifier) == before + 1
        assert report.model_dump(mode="json") == expected.model_dump(mode="json")


async def test_gost_2004_signers_stay_in_the_pool(tmp_path: Path, opened: list[Verifier]) -> None:
    """GOST 34.311-95 (Kazakh test S-box) is pure Python: the engine checks the signature, but in the pool."""
    (path, *_) = material.danikarik_gost_cms()
    data = material.cms_bytes(path)
    verifier = await _verifier(opened, tmp_path, load_certificate(read(*GOST_2004_CA)))
    at = datetime(2020, 6, 1, tzinfo=UTC)
    verdicts: list[dict[str, Any]] = []
    for _ in range(2):
        before = _jobs(verifier)
        verdicts.append((await verifier.verify_cms(data, at=at, revocation=None)).model_dump(mode="json"))
        assert _jobs(verifier) == before + 1
    assert verdicts[0] == verdicts[1] and verdicts[0]["signers"][0]["signature_valid"]


async def test_a_remembered_path_costs_the_signers_check_alone(
    holder: GostHolder, tmp_path: Path, opened: list[Verifier], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the loop no certificate of the chain is checked again: one GOST check per signer (issue 17)."""
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    await _warm(verifier, data, at=NOW, revocation=None)
    signer_checks: list[bytes] = []
    chain_checks: list[bytes] = []

    def signer_spy(*args: Any) -> bool:
        signer_checks.append(args[2])
        return verify_signature(*args)

    def chain_spy(*args: Any) -> bool:
        chain_checks.append(args[2])
        return verify_signature(*args)

    monkeypatch.setattr(cms_module, "verify_signature", signer_spy)
    monkeypatch.setattr(path_module, "verify_signature", chain_spy)
    report = await _on_loop(verifier, data, at=NOW, revocation=None)
    assert report["valid"] and len(signer_checks) == 1 and chain_checks == []
