"""Issue 11 §6: a past moment is not judged with a CRL issued after the certificate expired.

NCA drops certificates from its CRLs once they expire (RFC 5280 §3.3 allows it; ExpiredCertsOnCRL,
2.5.29.60, says when a CA keeps them), so today's CRL not listing an expired certificate proves nothing
about a moment when it was still valid. The answer comes from the archived CRL current at that moment,
else it is ``unknown`` with the reason. Real CRLs, signed by a test CA, served over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from authsvc.parties.http import HttpClient, RetryPolicy
from authsvc.parties.nca import NcaClient
from authsvc.pki.crl_cache import CrlCache, CrlSource
from authsvc.pki.revocation import RevocationChecker, RevocationOrder, RevocationPolicy, RevocationStatus
from tests.pki.test_crl import der, make_ca, rsa_key

CA = make_ca("past-ca", "ТЕСТОВЫЙ УЦ (RSA) PAST")
NOW = datetime.now(UTC).replace(microsecond=0)
NOT_AFTER = NOW - timedelta(days=100)  # the certificate expired 100 days ago ...
AT = NOW - timedelta(days=200)  # ... and the signature is judged at a moment it was valid
SERIAL = 0x5A5A


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def expired_leaf() -> asn1_x509.Certificate:
    key, ca_cert = CA
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ТЕСТОВ ИСТЁКШИЙ")]))
        .issuer_name(ca_cert.subject)
        .public_key(rsa_key("leaf").public_key())
        .serial_number(SERIAL)
        .not_valid_before(NOW - timedelta(days=400))
        .not_valid_after(NOT_AFTER)
        .sign(key, hashes.SHA256())
    )
    return asn1_x509.Certificate.load(der(cert))


def crl(number: int, this_update: datetime, revoked: bool, expired_on_crl: datetime | None = None) -> bytes:
    key, ca_cert = CA
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(this_update + timedelta(days=2))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    if expired_on_crl is not None:
        value = core.GeneralizedTime(expired_on_crl).dump()
        oid = x509.ObjectIdentifier("2.5.29.60")
        builder = builder.add_extension(x509.UnrecognizedExtension(oid, value), critical=False)
    if revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(SERIAL).revocation_date(AT - timedelta(days=10))
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class Host:
    def __init__(self) -> None:
        self.body = b""

    async def get(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.body, content_type="application/pkix-crl")


@pytest.fixture
async def served(aiohttp_server: Any) -> AsyncIterator[tuple[Host, NcaClient, str]]:
    host = Host()
    app = web.Application()
    app.router.add_get("/ca.crl", host.get)
    server = await aiohttp_server(app)
    http = HttpClient(timeout=1.0, retry=RetryPolicy(attempts=1))
    yield host, NcaClient(http, timeout=1.0, crl_timeout=1.0), str(server.make_url("/ca.crl"))
    await http.close()


async def judge(
    served: tuple[Host, NcaClient, str], tmp_path: Path, history: list[tuple[datetime, bytes]]
) -> tuple[Any, CrlCache]:
    """Install each (moment, CRL) in turn, as the background refresher would have, then check at AT, now."""
    host, client, url = served
    clock = Clock(NOW)
    cache = CrlCache(tmp_path, [CrlSource(url, der(CA[1]))], client.fetch_crl, clock=clock)
    for moment, body in history:
        clock.now, host.body = moment, body
        assert all((await cache.refresh()).values())
    clock.now = NOW
    with ThreadPoolExecutor(1) as pool:
        checker = RevocationChecker(
            RevocationPolicy(order=RevocationOrder.CRL_ONLY, hard_fail=True), crl_cache=cache, executor=pool
        )
        result = await checker.check(expired_leaf(), asn1_x509.Certificate.load(der(CA[1])), AT)
    return result, cache


async def test_todays_crl_proves_nothing_for_a_past_moment_without_an_archived_crl(
    served: tuple[Host, NcaClient, str], tmp_path: Path
) -> None:
    result, _ = await judge(served, tmp_path, [(NOW, crl(9, NOW - timedelta(hours=1), revoked=False))])
    assert result.status == RevocationStatus.UNKNOWN and result.source.value == "crl", result
    assert any("issued after the certificate expired" in e for e in result.errors), result.errors


async def test_the_archived_crl_current_at_the_moment_answers(
    served: tuple[Host, NcaClient, str], tmp_path: Path
) -> None:
    then = crl(3, AT - timedelta(hours=6), revoked=True)  # current at AT, listing the revocation
    history = [(AT, then), (NOW, crl(9, NOW - timedelta(hours=1), revoked=False))]
    result, _ = await judge(served, tmp_path, history)
    assert result.status == RevocationStatus.REVOKED and result.crl_number == 3, result
    assert result.revocation_time == AT - timedelta(days=10)
    assert result.evidence is not None and json.loads(result.evidence)["archived"] is True

    good_then = crl(3, AT - timedelta(hours=6), revoked=False)
    result, _ = await judge(served, tmp_path / "good", [(AT, good_then), (NOW, crl(9, NOW, revoked=False))])
    assert result.status == RevocationStatus.GOOD and result.crl_number == 3, result


async def test_a_crl_that_keeps_expired_certificates_still_answers(
    served: tuple[Host, NcaClient, str], tmp_path: Path
) -> None:
    keeps = crl(9, NOW - timedelta(hours=1), revoked=False, expired_on_crl=NOT_AFTER - timedelta(days=365))
    result, _ = await judge(served, tmp_path, [(NOW, keeps)])
    assert result.status == RevocationStatus.GOOD and result.crl_number == 9 and not result.errors, result
