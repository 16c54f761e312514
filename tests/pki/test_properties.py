"""Property tests over HTTP: truncated, bit-flipped and random DER / base64 / XML sent to every verification
endpoint never cause a 5xx, and never come back "valid" — unless the mutation left every signed byte
alone (then the verdict must still name the original signer and content, never something new).

The service runs in its own thread (SQLite and PostgreSQL), so hypothesis drives it with plain blocking
requests; signatures are judged at the fixtures' pinned time, where the unmutated inputs are valid.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.api.state import DB
from authsvc.app import create_app
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.pki.trust import read_certificates
from authsvc.store import lenders
from tests.conftest import make_settings, reset_database, run_sync
from tests.shared import fixture_path

AT = "2021-06-01T00:00:00Z"  # SIGNED_CMS_ONE_SIGNER and XML_SIGNED_VALID_STRING are valid then
CMS = fixture_path("nca", "ncanode", "cms", "SIGNED_CMS_ONE_SIGNER.p7s").read_bytes()
XML = fixture_path("nca", "ncanode", "xml", "XML_SIGNED_VALID_STRING.xml").read_text()
CERT = read_certificates(
    fixture_path("nca", "ncanode", "certs", "individual_valid_sign_2004_rsa.cer").read_bytes(), "cert"
)[0]
CAS = [
    ("ncanode", "ca", "nca_rsa_test.crt"),
    ("ncanode", "ca", "nca_gost_test.crt"),
    ("ncanode", "ca", "nca_gost2015_test.cer"),
]
RUNS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class ThreadedService:
    """The service on a real port, driven from synchronous test code."""

    def __init__(self, dsn: str, cache: Path) -> None:
        pki = {
            "anchor_files": [str(fixture_path("nca", *ca)) for ca in CAS],
            "anchor_urls": [],
            "intermediate_urls": [],
            "crl_sources": [],
            "cache_dir": str(cache),
            "test_mode_time_allowed": True,
        }
        self.app = create_app(make_settings(dsn, pki=pki, server={"process_workers": 1}), keys=LocalKeyStore.generate())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner = web.AppRunner(self.app)
        self.key = ""

    def start(self) -> ThreadedService:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=120)
        return self

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        async with self.app[DB].transaction() as conn:
            _, self.key = await lenders.create(conn, "Fuzz MFO")

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedService]:
    tmp = tmp_path_factory.mktemp("fuzz")
    if request.param == "sqlite":
        dsn = f"sqlite:///{tmp}/authsvc.db"
    else:
        dsn = request.getfixturevalue("pg_dsn")
        run_sync(reset_database(dsn))
    running = ThreadedService(dsn, tmp / "pki").start()
    yield running
    running.stop()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _flip(data: bytes, bit: int) -> bytes:
    index = bit // 8 % len(data)
    return data[:index] + bytes([data[index] ^ (1 << bit % 8)]) + data[index + 1 :]


def _no_5xx(status: int, body: dict[str, Any]) -> None:
    assert status < 500, body
    assert status in (200, 422), body
    if status == 422:
        assert isinstance(body.get("code"), str) and body["code"]


def test_unmutated_inputs_are_valid(service: ThreadedService) -> None:
    """The baseline the properties rely on: without mutation each input verifies."""
    assert service.post("/v1/eds/cms/verify", {"cms": _b64(CMS), "validation_time": AT, "revocation_check": []})[1][
        "valid"
    ]
    assert service.post("/v1/eds/xml/verify", {"xml": XML, "validation_time": AT, "revocation_check": []})[1]["valid"]
    assert service.post(
        "/v1/eds/x509/info",
        {"certificate": _b64(CERT), "validation_time": "2022-06-01T00:00:00Z", "revocation_check": []},
    )[1]["valid"]


mutated_der = st.one_of(
    st.integers(0, len(CMS) - 1).map(lambda n: CMS[:n]),
    st.integers(0, len(CMS) * 8 - 1).map(lambda bit: _flip(CMS, bit)),
    st.binary(max_size=2048),
    st.binary(min_size=1, max_size=64).map(lambda junk: b"\x30\x82" + junk),
)


@RUNS
@given(mutated_der, st.booleans())
def test_cms_endpoint(service: ThreadedService, data: bytes, as_text: bool) -> None:
    cms = data.decode("latin-1") if as_text else _b64(data)
    status, body = service.post("/v1/eds/cms/verify", {"cms": cms, "validation_time": AT, "revocation_check": []})
    _no_5xx(status, body)
    if status == 200 and body["valid"]:
        assert len(data) == len(CMS) and data != CMS  # only a bit flip outside the signed bytes
        [signer] = body["signers"]
        original = service.post(
            "/v1/eds/cms/verify", {"cms": _b64(CMS), "validation_time": AT, "revocation_check": []}
        )[1]
        assert signer["certificate"] == original["signers"][0]["certificate"]
        assert signer["signing_time"] == original["signers"][0]["signing_time"]


@RUNS
@given(
    st.one_of(
        st.integers(0, len(XML) - 1).map(lambda n: XML[:n]),
        st.tuples(st.integers(0, len(XML) - 1), st.characters(codec="utf-8")).map(
            lambda p: XML[: p[0]] + p[1] + XML[p[0] + 1 :]
        ),
        st.text(max_size=500),
    )
)
def test_xml_endpoint(service: ThreadedService, xml: str) -> None:
    if not xml:
        return  # an empty string is refused by the request model (min_length), tested elsewhere
    status, body = service.post("/v1/eds/xml/verify", {"xml": xml, "validation_time": AT, "revocation_check": []})
    _no_5xx(status, body)
    if status == 200 and body["valid"]:
        assert "<b>test</b>" in xml  # the signed content is untouched
        original = service.post("/v1/eds/xml/verify", {"xml": XML, "validation_time": AT, "revocation_check": []})[1]
        assert [s["certificate"] for s in body["signatures"]] == [s["certificate"] for s in original["signatures"]]


@RUNS
@given(
    st.one_of(
        st.integers(0, len(CERT) - 1).map(lambda n: CERT[:n]),
        st.integers(0, len(CERT) * 8 - 1).map(lambda bit: _flip(CERT, bit)),
        st.binary(max_size=1024),
    )
)
def test_certificate_endpoint(service: ThreadedService, data: bytes) -> None:
    status, body = service.post(
        "/v1/eds/x509/info",
        {"certificate": _b64(data), "validation_time": "2022-06-01T00:00:00Z", "revocation_check": []},
    )
    _no_5xx(status, body)
    if status == 200 and body["valid"]:
        assert len(data) == len(CERT) and data != CERT
        original = service.post(
            "/v1/eds/x509/info",
            {"certificate": _b64(CERT), "validation_time": "2022-06-01T00:00:00Z", "revocation_check": []},
        )[1]
        assert body["certificate"]["fingerprint_sha256"] != original["certificate"]["fingerprint_sha256"]
        assert body["certificate"]["subject"] == original["certificate"]["subject"]
