"""The NCA client against a local HTTP server that misbehaves the way NCA's hosts do (KZ-PKI.md §3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from asn1crypto import pem

from authsvc.errors import UpstreamUnavailable
from authsvc.parties.http import HttpClient, RetryPolicy
from authsvc.parties.nca import NcaClient
from tests.shared import fixture_path

CRL = fixture_path("nca", "ncanode", "crl", "nca_rsa_test.crl").read_bytes()
CA_PEM = fixture_path("nca", "ncanode", "ca", "NCA_2004_RSA_CERT_from_groovy.cert.pem").read_bytes()
CA_DER = pem.unarmor(CA_PEM)[2]
OCSP = fixture_path("nca", "ncanode", "ocsp", "ocsp_response_individual_sign_2004.bin").read_bytes()
TSP = fixture_path("nca", "ncanode", "tsp", "tsp_response.bin").read_bytes()


class Upstream:
    """A scripted NCA: each path answers from a queue of behaviours, then repeats the last one."""

    def __init__(self) -> None:
        self.script: dict[str, list[str]] = {}
        self.hits: dict[str, int] = {}
        self.bodies: list[tuple[str, bytes]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        queue = self.script.get(path, ["ok"])
        mode = queue.pop(0) if len(queue) > 1 else queue[0]
        if request.method == "POST":
            self.bodies.append((request.content_type, await request.read()))
        if mode == "slow":
            await asyncio.sleep(2)
        if mode == "404":
            return web.Response(status=404, text="Not Found")
        if mode == "503":
            return web.Response(status=503)
        if mode == "html":
            return web.Response(text="<html><body>Try again</body></html>", content_type="text/html")
        if mode == "empty":
            return web.Response(body=b"", content_type="application/pkix-crl")
        body = {"/crl": CRL, "/cert.pem": CA_PEM, "/ocsp": OCSP, "/tsp": TSP}[path]
        kind = {"/ocsp": "application/ocsp-response", "/tsp": "application/timestamp-reply"}
        return web.Response(body=body, content_type=kind.get(path, "application/octet-stream"))


@pytest.fixture
async def upstream(aiohttp_server: Any) -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = await aiohttp_server(app)
    yield fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def nca() -> AsyncIterator[NcaClient]:
    http = HttpClient(timeout=0.5, retry=RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.02))
    yield NcaClient(http, timeout=0.5, crl_timeout=0.5)
    await http.close()


async def test_crl_and_certificate_downloads(upstream: tuple[Upstream, str], nca: NcaClient) -> None:
    _, base = upstream
    assert await nca.fetch_crl(base + "/crl") == CRL
    assert await nca.fetch_certificate(base + "/cert.pem") == CA_DER  # PEM in, DER out


async def test_ocsp_and_tsp_are_posted_with_their_media_types(upstream: tuple[Upstream, str], nca: NcaClient) -> None:
    fake, base = upstream
    assert await nca.ocsp(base + "/ocsp", b"\x30\x00") == OCSP
    assert await nca.timestamp(base + "/tsp", b"\x30\x01\x00") == TSP
    assert fake.bodies == [("application/ocsp-request", b"\x30\x00"), ("application/timestamp-query", b"\x30\x01\x00")]


@pytest.mark.parametrize(
    ("script", "hits", "code"),
    [
        (["404"], 1, "crl_download_failed"),  # 4xx: an answer, not retried
        (["html"], 3, "upstream_bad_response"),  # "Try again" page: retried, then refused
        (["empty"], 3, "upstream_bad_response"),
        (["503"], 3, "upstream_bad_response"),
        (["slow"], 3, "upstream_timeout"),
    ],
)
async def test_crl_faults_become_named_upstream_errors(
    upstream: tuple[Upstream, str], nca: NcaClient, script: list[str], hits: int, code: str
) -> None:
    fake, base = upstream
    fake.script["/crl"] = list(script)
    with pytest.raises(UpstreamUnavailable) as caught:
        await nca.fetch_crl(base + "/crl")
    assert caught.value.code == code
    assert fake.hits["/crl"] == hits


async def test_transient_faults_are_retried_until_a_good_answer(upstream: tuple[Upstream, str], nca: NcaClient) -> None:
    fake, base = upstream
    fake.script["/ocsp"] = ["503", "html", "ok"]
    assert await nca.ocsp(base + "/ocsp", b"\x30\x00") == OCSP
    assert fake.hits["/ocsp"] == 3


async def test_unreachable_host_is_named(nca: NcaClient, unused_tcp_port: int) -> None:
    with pytest.raises(UpstreamUnavailable) as caught:
        await nca.fetch_crl(f"http://127.0.0.1:{unused_tcp_port}/crl")
    assert caught.value.code == "upstream_unreachable"


async def test_oversized_body_is_refused(upstream: tuple[Upstream, str]) -> None:
    _, base = upstream
    async with HttpClient(max_body=1000, retry=RetryPolicy(attempts=1)) as http:
        with pytest.raises(UpstreamUnavailable) as caught:
            await NcaClient(http).fetch_crl(base + "/crl")
    assert caught.value.code == "upstream_bad_response" and "limit" in caught.value.detail
