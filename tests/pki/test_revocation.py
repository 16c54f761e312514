"""RevocationChecker policies against a live local OCSP responder and CRL host (R-7.1, R-10.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from authsvc.parties.http import HttpClient, RetryPolicy
from authsvc.parties.nca import NcaClient
from authsvc.pki.crl_cache import CrlCache, CrlSource
from authsvc.pki.ocsp import build_ocsp_request, verify_ocsp_response
from authsvc.pki.revocation import (
    RevocationChecker,
    RevocationOrder,
    RevocationPolicy,
    RevocationSource,
    RevocationStatus,
    RevocationUnavailable,
    ocsp_urls,
)
from tests.pki.test_crl import der, make_ca, make_crl, read
from tests.pki.test_ocsp import NOW, make_leaf, make_responder

CA = make_ca()
RESPONDER = make_responder(CA)
ISSUER = asn1_x509.Certificate.load(der(CA[1]))
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIER = NOW - timedelta(days=20)


@dataclass
class Nca:
    """A local NCA: an OCSP responder that echoes nonces, and a CRL host."""

    ocsp_mode: dict[int, str] = field(default_factory=dict)  # serial -> good|revoked|revoked-later|unknown-1970|500
    leaves: dict[int, x509.Certificate] = field(default_factory=dict)
    crl: bytes | None = None
    ocsp_hits: int = 0

    async def ocsp(self, request: web.Request) -> web.Response:
        self.ocsp_hits += 1
        asked = ocsp.load_der_ocsp_request(await request.read())
        mode = self.ocsp_mode.get(asked.serial_number, "good")
        if mode == "500":
            return web.Response(status=500)
        status, when = ocsp.OCSPCertStatus.GOOD, None
        if mode != "good":
            status = ocsp.OCSPCertStatus.REVOKED
            when = {"revoked": EARLIER, "revoked-later": NOW - timedelta(hours=1), "unknown-1970": EPOCH}[mode]
        reason = x509.ReasonFlags.certificate_hold if mode == "unknown-1970" else x509.ReasonFlags.key_compromise
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(
                cert=self.leaves[asked.serial_number],
                issuer=CA[1],
                algorithm=hashes.SHA256(),
                cert_status=status,
                this_update=datetime.now(UTC),  # answered now: a slow suite run must not make it stale
                next_update=None,
                revocation_time=when,
                revocation_reason=reason if when else None,
            )
            .responder_id(ocsp.OCSPResponderEncoding.NAME, RESPONDER[1])
            .certificates([RESPONDER[1]])
        )
        nonce = asked.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        body = builder.sign(RESPONDER[0], hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        return web.Response(body=body, content_type="application/ocsp-response")

    async def get_crl(self, request: web.Request) -> web.Response:
        if self.crl is None:
            return web.Response(status=404)
        return web.Response(body=self.crl, content_type="application/pkix-crl")


@pytest.fixture
async def nca(aiohttp_server: Any) -> AsyncIterator[tuple[Nca, str]]:
    fake = Nca()
    app = web.Application()
    app.router.add_post("/ocsp", fake.ocsp)
    app.router.add_get("/nca.crl", fake.get_crl)
    server = await aiohttp_server(app)
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


@pytest.fixture
async def client() -> AsyncIterator[NcaClient]:
    http = HttpClient(timeout=1.0, retry=RetryPolicy(attempts=1))
    yield NcaClient(http, timeout=1.0, crl_timeout=1.0)
    await http.close()


def leaf(fake: Nca, serial: int, mode: str = "good") -> asn1_x509.Certificate:
    cert = make_leaf(CA, serial)
    fake.leaves[serial], fake.ocsp_mode[serial] = cert, mode
    return asn1_x509.Certificate.load(der(cert))


async def crl_cache(fake: Nca, base: str, client: NcaClient, tmp_path: Path, revoked: list[int]) -> CrlCache:
    fake.crl = make_crl(
        CA,
        [(serial, EARLIER, x509.ReasonFlags.superseded) for serial in revoked],
        number=3,
        this_update=NOW - timedelta(hours=1),
        next_update=NOW + timedelta(days=1),
    )
    cache = CrlCache(tmp_path, [CrlSource(base + "/nca.crl", der(CA[1]))], client.fetch_crl)
    assert all((await cache.refresh()).values())
    return cache


def checker(
    base: str, client: NcaClient, pool: ThreadPoolExecutor, cache: CrlCache | None = None, **policy: Any
) -> RevocationChecker:
    return RevocationChecker(
        RevocationPolicy(ocsp_url=base + "/ocsp", **policy), ocsp_client=client, crl_cache=cache, executor=pool
    )


async def test_ocsp_answers_carry_status_and_offline_evidence(
    nca: tuple[Nca, str], client: NcaClient, pool: ThreadPoolExecutor
) -> None:
    fake, base = nca
    check = checker(base, client, pool)
    good = await check.check(leaf(fake, 11), ISSUER, NOW)
    assert (good.status, good.source) == (RevocationStatus.GOOD, RevocationSource.OCSP)
    revoked = await check.check(leaf(fake, 12, "revoked"), ISSUER, NOW)
    assert revoked.status == RevocationStatus.REVOKED
    assert (revoked.revocation_time, revoked.revocation_reason) == (EARLIER, "key_compromise")
    # the evidence is the signed response itself: it re-verifies later without the network
    assert asn1_ocsp.OCSPResponse.load(revoked.evidence or b"")["response_status"].native == "successful"
    offline = build_ocsp_request(der(fake.leaves[12]), der(CA[1]), nonce=None)
    again = verify_ocsp_response(revoked.evidence or b"", offline, der(CA[1]), revoked.checked_at)
    assert again.revocation_time == EARLIER


async def test_revocation_after_the_signing_moment_keeps_the_signature_good(
    nca: tuple[Nca, str], client: NcaClient, pool: ThreadPoolExecutor
) -> None:
    fake, base = nca
    result = await checker(base, client, pool).check(leaf(fake, 13, "revoked-later"), ISSUER, NOW - timedelta(days=2))
    assert result.status == RevocationStatus.GOOD and result.revoked_after_at
    assert result.revocation_time == NOW - timedelta(hours=1)


async def test_nca_unknown_answer_falls_back_to_the_crl(
    nca: tuple[Nca, str], client: NcaClient, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    fake, base = nca
    cache = await crl_cache(fake, base, client, tmp_path, revoked=[15])
    unknown_but_clean = await checker(base, client, pool, cache).check(leaf(fake, 14, "unknown-1970"), ISSUER, NOW)
    assert (unknown_but_clean.status, unknown_but_clean.source) == (RevocationStatus.GOOD, RevocationSource.CRL)
    assert unknown_but_clean.crl_number == 3 and b'"crl_sha256"' in (unknown_but_clean.evidence or b"")
    unknown_and_listed = await checker(base, client, pool, cache).check(leaf(fake, 15, "unknown-1970"), ISSUER, NOW)
    assert unknown_and_listed.status == RevocationStatus.REVOKED
    assert unknown_and_listed.revocation_reason == "superseded"
    only_ocsp = await checker(base, client, pool, cache, order=RevocationOrder.OCSP_ONLY).check(
        leaf(fake, 16, "unknown-1970"), ISSUER, NOW
    )
    assert (only_ocsp.status, only_ocsp.source) == (RevocationStatus.UNKNOWN, RevocationSource.OCSP)
    assert only_ocsp.revocation_time is None  # the 1970 "revocation" is not a revocation


async def test_ocsp_outage_falls_back_to_the_crl(
    nca: tuple[Nca, str], client: NcaClient, pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    fake, base = nca
    cache = await crl_cache(fake, base, client, tmp_path, revoked=[17])
    result = await checker(base, client, pool, cache).check(leaf(fake, 17, "500"), ISSUER, NOW)
    assert (result.status, result.source) == (RevocationStatus.REVOKED, RevocationSource.CRL)
    assert result.revocation_time == EARLIER
    crl_only = await checker(base, client, pool, cache, order=RevocationOrder.CRL_ONLY).check(
        leaf(fake, 18, "revoked"), ISSUER, NOW
    )
    assert (crl_only.status, crl_only.source) == (RevocationStatus.GOOD, RevocationSource.CRL)
    assert fake.ocsp_hits == 1


async def test_hard_fail_raises_and_soft_fail_reports_unknown(
    nca: tuple[Nca, str], client: NcaClient, pool: ThreadPoolExecutor
) -> None:
    fake, base = nca
    cert = leaf(fake, 19, "500")
    with pytest.raises(RevocationUnavailable) as caught:
        await checker(base, client, pool).check(cert, ISSUER, NOW)
    assert caught.value.code == "revocation_unavailable" and len(caught.value.extra["errors"]) == 2
    soft = await checker(base, client, pool, hard_fail=False).check(cert, ISSUER, NOW)
    assert (soft.status, soft.source) == (RevocationStatus.UNKNOWN, RevocationSource.NONE)
    assert any(e.startswith("ocsp: upstream_bad_response") for e in soft.errors)


async def test_ocsp_answers_are_cached_for_their_ttl(
    nca: tuple[Nca, str], client: NcaClient, pool: ThreadPoolExecutor
) -> None:
    fake, base = nca
    cert = leaf(fake, 20)
    check = checker(base, client, pool)
    first, second = await check.check(cert, ISSUER, NOW), await check.check(cert, ISSUER, NOW)
    assert first.evidence == second.evidence and fake.ocsp_hits == 1
    uncached = checker(base, client, pool, ocsp_cache_ttl=timedelta(0))
    await uncached.check(cert, ISSUER, NOW)
    await uncached.check(cert, ISSUER, NOW)
    assert fake.ocsp_hits == 3


def test_ocsp_url_comes_from_the_certificates_aia() -> None:
    cert = asn1_x509.Certificate.load(read("p12", "KEY_CEO_REVOKED_2015.cert.pem"))
    assert ocsp_urls(cert) == ["http://test.pki.gov.kz/ocsp/"]
    assert ocsp_urls(asn1_x509.Certificate.load(read("ca", "nca_rsa_test.crt"))) == []
