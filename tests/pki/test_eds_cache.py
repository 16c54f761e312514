"""The verification caches (issue 3) never change a verdict: with the path cache warm and the CMS verified on
the event loop (`authsvc.pki.inline`), every answer equals the one the uncached code gives — expired or
not-yet-valid certificates at the judged moment, revoked certificates, wrong chains, other trust, tampered
content and signed attributes — and only the cheap cases stay off the pool."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import ValidationError

from authsvc.errors import ValidationFailed
from authsvc.pki import cms as cms_module
from authsvc.pki import inline, workers
from authsvc.pki.certinfo import _INFO_CACHE, cert_info
from authsvc.pki.cms import parse_cms, verify_cms
from authsvc.pki.path import PathResult, PathValidator, forget_chain_verdicts
from authsvc.pki.path_cache import CacheOnlyValidator, CachingPathValidator, PathCache, PathCacheMiss, path_key
from authsvc.pki.reports import CmsReport
from authsvc.pki.revocation import RevocationOrder, RevocationPolicy
from authsvc.pki.service import Verifier
from authsvc.pki.trust import TrustBundle, TrustStore
from simulators.nca.signer import KeyPair, sign_cms
from tests.pki.certmaker import Issued, issue, rsa_key
from tests.pki.nca_material import AT_2004, RSA_CA, read
from tests.shared import fixture_path

NOW = datetime.now(UTC).replace(microsecond=0)
CONTENT = b"loan contract 42"


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the jobs sent to it: a verification answered on the loop sends none."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.jobs = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


@dataclass
class Holder:
    root: Issued
    leaf: Issued
    pair: KeyPair


def _holder(root: Issued | None = None, *, serial: int = 77, days: int = 30) -> Holder:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    root = root or issue("Cache Root", rsa_key(), ca=True, days=3650, not_before=NOW - timedelta(days=10))
    leaf = issue(
        "Cache Signer",
        (spki, lambda d: key.sign(d, padding.PKCS1v15(), hashes.SHA256()), "1.2.840.113549.1.1.11"),
        root,
        serial=serial,
        not_before=NOW - timedelta(days=1),
        days=days,
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Holder(root, leaf, KeyPair.from_der(leaf.cert.dump(), pkcs8))


@pytest.fixture(scope="module")
def holder() -> Holder:
    return _holder()


def _forget_everything() -> None:
    """Every process-wide cache the verification uses: the next verification is the uncached code."""
    workers._VALIDATORS.clear()
    _INFO_CACHE.clear()
    cms_module._BINDINGS.clear()
    cms_module._names_equal.cache_clear()
    forget_chain_verdicts()


@pytest.fixture(autouse=True)
def cold() -> Iterator[None]:
    _forget_everything()
    yield
    _forget_everything()


@pytest.fixture
async def opened() -> AsyncIterator[list[Verifier]]:
    verifiers: list[Verifier] = []
    yield verifiers
    for verifier in verifiers:
        await verifier.close()
        executor = verifier._executor
        if isinstance(executor, ThreadPoolExecutor):
            executor.shutdown(wait=True)


async def _verifier(opened: list[Verifier], tmp_path: Path, *anchors: x509.Certificate, **kwargs: Any) -> Verifier:
    files = []
    for n, anchor in enumerate(anchors):
        path = tmp_path / f"anchor-{n}-{anchor.sha256.hex()[:8]}.cer"
        path.write_bytes(anchor.dump())
        files.append(str(path))
    verifier = Verifier(
        TrustStore(anchor_files=files),
        policy=kwargs.pop("policy", RevocationPolicy(hard_fail=False)),
        executor=CountingExecutor(),
        **kwargs,
    )
    opened.append(verifier)
    await verifier.start()
    return verifier


def _jobs(verifier: Verifier) -> int:
    executor = verifier._executor
    assert isinstance(executor, CountingExecutor)
    return executor.jobs


async def _uncached(verifier: Verifier, data: bytes, **kwargs: Any) -> dict[str, Any]:
    _forget_everything()
    before = _jobs(verifier)
    report = await verifier.verify_cms(data, **kwargs)
    assert _jobs(verifier) == before + 1, "the uncached verdict comes from the pool"
    return report.model_dump(mode="json")


async def _warm(verifier: Verifier, data: bytes, **kwargs: Any) -> CmsReport:
    """Verify twice: the first from the pool, the second on the loop from the remembered path."""
    first = await verifier.verify_cms(data, **kwargs)
    before = _jobs(verifier)
    second = await verifier.verify_cms(data, **kwargs)
    assert _jobs(verifier) == before, "a repeated RSA verification is answered on the loop"
    assert second.model_dump(mode="json") == first.model_dump(mode="json")
    return second


async def _on_loop(verifier: Verifier, data: bytes, **kwargs: Any) -> dict[str, Any]:
    before = _jobs(verifier)
    report = await verifier.verify_cms(data, **kwargs)
    assert _jobs(verifier) == before, "answered on the loop"
    return report.model_dump(mode="json")


# --- verdicts with the cache warm ------------------------------------------------------------------
async def test_expired_and_not_yet_valid_at_the_judged_moment(
    holder: Holder, tmp_path: Path, opened: list[Verifier]
) -> None:
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    assert (await _warm(verifier, data, at=NOW, revocation=None)).valid
    for moment, reason in ((NOW + timedelta(days=40), "expired"), (NOW - timedelta(days=2), "not_yet_valid")):
        warm = (await verifier.verify_cms(data, at=moment, revocation=None)).model_dump(mode="json")
        assert warm == await _uncached(verifier, data, at=moment, revocation=None)
        assert not warm["valid"] and warm["signers"][0]["reasons"] == [reason]
        await _warm(verifier, data, at=NOW, revocation=None)


async def test_window_edges_are_left_to_the_uncached_code(
    holder: Holder, tmp_path: Path, opened: list[Verifier]
) -> None:
    """pyhanko allows a second of tolerance; the cache answers only strictly inside the validity."""
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    await _warm(verifier, data, at=NOW, revocation=None)
    not_after = holder.leaf.cert["tbs_certificate"]["validity"]["not_after"].native
    for moment in (not_after, not_after + timedelta(microseconds=500_000), not_after + timedelta(seconds=2)):
        expected = await _uncached(verifier, data, at=moment, revocation=None)
        await verifier.verify_cms(data, at=NOW, revocation=None)  # warm again
        assert (await verifier.verify_cms(data, at=moment, revocation=None)).model_dump(mode="json") == expected


async def test_a_revoked_certificate_is_revoked_with_its_path_remembered(
    tmp_path: Path, opened: list[Verifier]
) -> None:
    """NCA test CA: the key was revoked 51 s after issue; its path is remembered from a judgement before."""
    ca_file = str(fixture_path("nca", *RSA_CA))

    async def fixture_crl(url: str) -> bytes:
        return read("ncanode", "crl", url.rsplit("/", 1)[1])

    verifier = Verifier(
        TrustStore(anchor_files=[ca_file]),
        policy=RevocationPolicy(order=RevocationOrder.CRL_ONLY, hard_fail=True),
        executor=CountingExecutor(),
        crl_sources=[("http://crl.test/nca_rsa_test.crl", None, ca_file)],
        crl_fetch=fixture_crl,
        crl_dir=tmp_path,
        clock=lambda: AT_2004,
    )
    opened.append(verifier)
    await verifier.start()
    await verifier.wait_started()
    assert verifier.crl_cache is not None and all((await verifier.crl_cache.refresh()).values())
    pair = KeyPair.from_pkcs12(read("ncanode", "p12", "KEY_INDIVIDUAL_SIGN_REVOKED_2004.p12"), "Qwerty12")
    before_revocation = datetime(2022, 1, 18, 4, 40, tzinfo=UTC)
    data = sign_cms(pair, CONTENT, signing_time=before_revocation)
    good = await _warm(verifier, data, at=before_revocation)
    assert good.valid and good.signers[0].revocations[0].revoked_after_validation_time
    revoked = await _on_loop(verifier, data, at=AT_2004)
    assert revoked == await _uncached(verifier, data, at=AT_2004)
    assert not revoked["valid"] and revoked["signers"][0]["reasons"] == ["revoked"]
    assert revoked["signers"][0]["revocations"][0]["source"] == "crl"


async def test_a_wrong_chain_is_never_answered_from_the_genuine_one(
    holder: Holder, tmp_path: Path, opened: list[Verifier]
) -> None:
    """A forged root and signer with the same names and serial: other bytes, so no remembered path."""
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    await _warm(verifier, sign_cms(holder.pair, CONTENT, signing_time=NOW), at=NOW, revocation=None)
    forged = _holder(issue("Cache Root", rsa_key(), ca=True, days=3650, not_before=NOW - timedelta(days=10)))
    assert forged.leaf.cert.subject == holder.leaf.cert.subject and forged.leaf.cert.issuer == holder.leaf.cert.issuer
    data = sign_cms(forged.pair, CONTENT, signing_time=NOW)
    before = _jobs(verifier)
    warm = (await verifier.verify_cms(data, at=NOW, revocation=None)).model_dump(mode="json")
    assert _jobs(verifier) == before + 1  # decided in the pool
    assert warm == await _uncached(verifier, data, at=NOW, revocation=None)
    assert not warm["valid"] and warm["signers"][0]["reasons"]


async def test_extra_certificates_and_key_usage_are_part_of_the_remembered_question(
    holder: Holder, tmp_path: Path, opened: list[Verifier]
) -> None:
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    await _warm(verifier, data, at=NOW, revocation=None)
    usage = ("key_cert_sign",)
    before = _jobs(verifier)
    warm = (await verifier.verify_cms(data, at=NOW, revocation=None, key_usage=usage)).model_dump(mode="json")
    assert _jobs(verifier) == before + 1
    assert warm == await _uncached(verifier, data, at=NOW, revocation=None, key_usage=usage)
    assert warm["signers"][0]["reasons"] == ["key_usage"]
    stranger = issue("Stranger", rsa_key(), ca=True)
    with_extra = sign_cms(holder.pair, CONTENT, signing_time=NOW, chain=[stranger.cert])
    before = _jobs(verifier)
    assert (await verifier.verify_cms(with_extra, at=NOW, revocation=None)).valid
    assert _jobs(verifier) == before + 1  # other supplied certificates: another question


async def test_another_trust_configuration_never_meets_a_remembered_path(
    holder: Holder, tmp_path: Path, opened: list[Verifier]
) -> None:
    trusting = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    await _warm(trusting, data, at=NOW, revocation=None)
    other_root = issue("Other Root", rsa_key(), ca=True, days=3650, not_before=NOW - timedelta(days=10))
    distrusting = await _verifier(opened, tmp_path, other_root.cert)
    before = _jobs(distrusting)
    assert (await _on_loop(trusting, data, at=NOW, revocation=None))["valid"]  # its own remembered path
    warm = (await distrusting.verify_cms(data, at=NOW, revocation=None)).model_dump(mode="json")
    assert _jobs(distrusting) == before + 1
    assert warm == await _uncached(distrusting, data, at=NOW, revocation=None)
    assert not warm["valid"] and warm["signers"][0]["reasons"] == ["no_path"]


async def test_tampered_content_is_caught_on_the_loop(holder: Holder, tmp_path: Path, opened: list[Verifier]) -> None:
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    await _warm(verifier, data, at=NOW, revocation=None)
    tampered = data.replace(CONTENT, b"loan contract 43")
    warm = await _on_loop(verifier, tampered, at=NOW, revocation=None)
    assert warm == await _uncached(verifier, tampered, at=NOW, revocation=None)
    assert not warm["valid"] and warm["signers"][0]["reasons"] == ["message_digest_mismatch"]
    detached = sign_cms(holder.pair, CONTENT, detached=True, signing_time=NOW)
    await _warm(verifier, detached, content=CONTENT, at=NOW, revocation=None)
    other = await _on_loop(verifier, detached, content=b"loan contract 43", at=NOW, revocation=None)
    assert other == await _uncached(verifier, detached, content=b"loan contract 43", at=NOW, revocation=None)
    assert other["signers"][0]["reasons"] == ["message_digest_mismatch"]
    signature = cms.ContentInfo.load(data)["content"]["signer_infos"][0]["signature"].native
    forged_signature = data.replace(signature, bytes(len(signature)))
    bad = await _on_loop(verifier, forged_signature, at=NOW, revocation=None)
    assert bad == await _uncached(verifier, forged_signature, at=NOW, revocation=None)
    assert bad["signers"][0]["reasons"] == ["bad_signature"] and not bad["signers"][0]["signature_valid"]


def _resign(pair: KeyPair, der: bytes, signed_attrs: bytes) -> bytes:
    """``der`` with its signed attributes replaced by ``signed_attrs`` ([0] IMPLICIT, as received) and re-signed."""
    signer = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    old_attrs, old_signature = signer["signed_attrs"].dump(), signer["signature"].native
    new_signature = pair.signer.sign(b"\x31" + signed_attrs[1:])
    assert len(new_signature) == len(old_signature) and len(signed_attrs) == len(old_attrs)
    return der.replace(old_attrs, signed_attrs).replace(old_signature, new_signature)


async def test_signed_attributes_on_the_loop_are_checked_as_received(
    holder: Holder, tmp_path: Path, opened: list[Verifier]
) -> None:
    """Out-of-DER-order attributes verify (the signature covers the bytes sent); a signingCertificateV2
    naming another certificate is refused even though this signer's binding verdict is remembered."""
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    await _warm(verifier, data, at=NOW, revocation=None)
    received = cms.ContentInfo.load(data)["content"]["signer_infos"][0]["signed_attrs"]
    raw, contents = received.dump(), received.contents
    header = raw[: len(raw) - len(contents)]
    attributes = [contents[s:e] for s, e in _tlv_spans(contents)]
    assert len(attributes) >= 4
    unsorted = _resign(holder.pair, data, header + b"".join(reversed(attributes)))
    await _warm(verifier, unsorted, at=NOW, revocation=None)
    assert (await _on_loop(verifier, unsorted, at=NOW, revocation=None))["valid"]
    leaf_hash = hashlib.sha256(holder.leaf.cert.dump()).digest()
    root_hash = hashlib.sha256(holder.root.cert.dump()).digest()
    assert raw.count(leaf_hash) == 1
    other_binding = _resign(holder.pair, data, raw.replace(leaf_hash, root_hash))
    warm = await _on_loop(verifier, other_binding, at=NOW, revocation=None)
    assert warm == await _uncached(verifier, other_binding, at=NOW, revocation=None)
    assert warm["signers"][0]["reasons"] == ["signing_certificate_mismatch"]


def _tlv_spans(contents: bytes) -> list[tuple[int, int]]:
    spans, pos = [], 0
    while pos < len(contents):
        length, head = contents[pos + 1], 2
        if length & 0x80:
            octets = length & 0x7F
            length, head = int.from_bytes(contents[pos + 2 : pos + 2 + octets], "big"), 2 + octets
        spans.append((pos, pos + head + length))
        pos += head + length
    return spans


# --- what stays in the pool --------------------------------------------------------------------------
async def test_large_unreadable_and_unremembered_input_goes_to_the_pool(
    holder: Holder, tmp_path: Path, opened: list[Verifier]
) -> None:
    # GOST: tests/pki/gost/test_inline_gost.py (on the loop through the gost engine, else in the pool).
    verifier = await _verifier(opened, tmp_path, holder.root.cert)
    large = sign_cms(holder.pair, b"x" * (inline.MAX_DER + 1), signing_time=NOW)
    for _ in range(2):
        before = _jobs(verifier)
        assert (await verifier.verify_cms(large, at=NOW, revocation=None)).valid
        assert _jobs(verifier) == before + 1
    before = _jobs(verifier)
    with pytest.raises(ValidationFailed) as caught:
        await verifier.verify_cms(b"\x30\x03\x02\x01\x00", revocation=None)
    assert caught.value.code == "bad_cms" and _jobs(verifier) == before + 1  # the pool's answer, as before


# --- the caches themselves ---------------------------------------------------------------------------
async def test_path_cache_answers_only_successes_inside_every_validity(holder: Holder) -> None:
    validator = PathValidator([holder.root.cert])
    ok = await validator.validate(holder.leaf.cert, at=NOW)
    failed = await validator.validate(holder.leaf.cert, at=NOW + timedelta(days=40))
    assert ok.ok and not failed.ok
    cache = PathCache(size=2)
    key = path_key(holder.leaf.cert, [], ["digital_signature"])
    cache.put(key, failed)
    assert cache.get(key, NOW) is None and len(cache) == 0
    cache.put(key, ok)
    hit = cache.get(key, NOW + timedelta(hours=1))
    assert hit is not None and hit.ok and hit.validated_at == NOW + timedelta(hours=1)
    assert [c.fingerprint_sha256 for c in hit.chain] == [c.fingerprint_sha256 for c in ok.chain]
    assert [c.dump() for c in hit.certificates] == [c.dump() for c in ok.certificates]
    hit.certificates.clear()  # callers may rebind or empty what they get: the cache keeps its own
    assert cache.get(key, NOW) is not None and cache.get(key, NOW).certificates  # type: ignore[union-attr]
    leaf_validity = holder.leaf.cert["tbs_certificate"]["validity"]
    assert cache.get(key, leaf_validity["not_after"].native + timedelta(seconds=1)) is None
    assert cache.get(key, leaf_validity["not_before"].native - timedelta(seconds=1)) is None
    assert cache.get(key, NOW.replace(tzinfo=None)) is None  # naive moments go to the uncached code
    for n in range(3):
        cache.put(path_key(holder.root.cert, [], [str(n)]), ok)
    assert len(cache) == 2 and cache.get(key, NOW) is None  # least recently used went first


async def test_caching_validator_and_cache_only_validator(holder: Holder) -> None:
    source = CachingPathValidator([holder.root.cert])
    plain = PathValidator([holder.root.cert])
    only = CacheOnlyValidator(source)
    with pytest.raises(PathCacheMiss):
        await only.validate(holder.leaf.cert, at=NOW)
    assert (await source.validate(holder.leaf.cert, at=NOW)).ok
    assert (await only.validate(holder.leaf.cert, at=NOW)).ok
    late = NOW + timedelta(days=40)
    with pytest.raises(PathCacheMiss):
        await only.validate(holder.leaf.cert, at=late)
    cached, uncached = await source.validate(holder.leaf.cert, at=late), await plain.validate(holder.leaf.cert, at=late)
    assert cached.model_dump() == uncached.model_dump() and cached.reasons == ["expired"]
    with pytest.raises(PathCacheMiss):
        await only.validate(holder.leaf.cert, at=NOW, required_key_usage=("non_repudiation",))
    assert source.cached(holder.leaf.cert.dump(), at=NOW) is None  # only parsed certificates are looked up


async def test_paths_validated_in_the_pool_are_learned(holder: Holder) -> None:
    data = sign_cms(holder.pair, CONTENT, signing_time=NOW)
    bundle = TrustBundle((holder.root.cert.dump(),), ())
    result, chains = await asyncio.to_thread(workers.cms_job, bundle, False, data, None, NOW, ("digital_signature",))
    workers.attach([s.path for s in result.signers], chains)
    main = CachingPathValidator([holder.root.cert])
    parsed = parse_cms(data)
    assert (await inline.try_cms(main, data, content=None, at=NOW, usage=("digital_signature",))).result is None
    inline.learn(parsed, result, main, ("digital_signature",))
    attempt = await inline.try_cms(main, data, content=None, at=NOW, usage=("digital_signature",))
    assert attempt.result is not None and attempt.result.valid
    direct = await verify_cms(data, validator=PathValidator([holder.root.cert]), at=NOW)
    assert attempt.result.model_dump() == direct.model_dump()
    assert isinstance(attempt.result.signers[0].path, PathResult) and attempt.result.signers[0].path.certificates


def test_certificate_facts_are_shared_and_frozen(holder: Holder) -> None:
    der = holder.leaf.cert.dump()
    first = cert_info(der)
    assert cert_info(x509.Certificate.load(der)) is first and cert_info(der) is first
    assert first.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    with pytest.raises(ValidationError):
        first.serial_number = "00"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        first.subject.iin = "000000000000"  # type: ignore[misc]
    assert cert_info(holder.root.cert) is not first
