"""The service against the NCA test-PKI simulator, end to end over real HTTP: trust fetched from its /cert/
URLs, revocation by its OCSP responder and CRLs, signatures made client-side with `simulators.nca.signer`.

The simulator runs in its own thread and event loop on a free port (as `python -m simulators` would run
it beside the service); its CA keys are generated once per session and copied for each test.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import update

from authsvc.api.state import DB, VERIFIER
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.pki.workers import validator_for
from authsvc.store.schema import challenges
from simulators.nca.app import create_app as create_simulator
from simulators.nca.ca import Urls
from simulators.nca.pki import Pki
from simulators.nca.signer import KeyPair, create_cms_signature_from_base64, sign_cms, sign_cms_timestamped
from tests.conftest import Api, individual, legal_entity, make_settings, start_api

IIN = "811201401188"  # individual() and legal_entity()'s representative
BIN = "971240001315"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Simulator:
    """The NCA simulator served from a thread, so it keeps answering while a test's loop waits on it."""

    def __init__(self, state_dir: Path, port: int | None = None) -> None:
        self.state_dir = state_dir
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def start(self) -> Simulator:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=120)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(create_simulator(base_url=self.url, state_dir=self.state_dir))
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def settings(self, cache_dir: Path, **over: Any) -> dict[str, Any]:
        """The service's [pki] section pointing at this simulator (as configs/default.toml does at :8701)."""
        cert = f"{self.url}/cert/"
        base: dict[str, Any] = {
            "anchor_files": [],
            "anchor_urls": [cert + "root_gost2022_test.cer", cert + "root_rsa2022_test.cer"],
            "intermediate_urls": [cert + "nca_gost2022_test.cer", cert + "nca_rsa2022_test.cer"],
            "crl_sources": [
                {"url": f"{self.url}/crl/{s}.crl", "delta_url": f"{self.url}/crl/{s}_d.crl", "issuer": f"{cert}{s}.cer"}
                for s in ("nca_gost2022_test", "nca_rsa2022_test")
            ],
            "cache_dir": str(cache_dir),
            "trust_retry_s": 0.2,
            "test_mode_time_allowed": True,
        }
        return base | over

    async def issue(self, **fields: Any) -> dict[str, Any]:
        body = {"iin": IIN, "surname": "Жумабаев", "first_name": "Ерлан", "algorithm": "gost2015", **fields}
        async with aiohttp.ClientSession() as http, http.post(f"{self.url}/admin/issue", json=body) as resp:
            assert resp.status == 201, await resp.text()
            data: dict[str, Any] = await resp.json()
        return data

    async def revoke(self, serial: str) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/admin/revoke", json={"serial": serial}) as resp,
        ):
            assert resp.status == 200, await resp.text()


@pytest.fixture(scope="session")
def nca_port() -> int:
    """One port for the session: issued certificates name the simulator's URL in their AIA and CDP."""
    return _free_port()


@pytest.fixture(scope="session")
def nca_template(tmp_path_factory: pytest.TempPathFactory, nca_port: int) -> Path:
    state = tmp_path_factory.mktemp("nca-template")
    Pki.open(Urls(f"http://127.0.0.1:{nca_port}"), state, lambda: datetime.now(UTC))
    return state


@pytest.fixture
def simulator(nca_template: Path, nca_port: int, tmp_path: Path) -> Iterator[Simulator]:
    state = tmp_path / "nca"
    shutil.copytree(nca_template, state)
    sim = Simulator(state, nca_port).start()
    yield sim
    sim.stop()


async def sim_api(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, sim: Simulator, tmp_path: Path, **pki: Any
) -> Api:
    settings = make_settings(dsn, pki=sim.settings(tmp_path / "pki", **pki), server={"process_workers": 1})
    api = await start_api(aiohttp_client, settings, keys)
    verifier = api.app[VERIFIER]
    assert verifier is not None
    await asyncio.wait_for(verifier.trust.wait_ready(), 30)
    return api


def pair_of(issued: dict[str, Any]) -> KeyPair:
    return KeyPair.from_pem(issued["certificate_pem"], issued["private_key_pem"])


async def open_identification(api: Api, client_id: str, operation: str = "registration") -> str:
    resp = await api.post("/v1/identifications", {"client_id": client_id, "operation": operation})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def challenge(api: Api, ident: str) -> str:
    resp = await api.post(f"/v1/identifications/{ident}/eds/challenge", {})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["data"])


async def register(api: Api, body: dict[str, Any]) -> str:
    resp = await api.post("/v1/clients", body)
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def submit(api: Api, ident: str, cms: str, data: str | None = None) -> tuple[int, dict[str, Any]]:
    body = {"cms": cms} | ({"data": data} if data is not None else {})
    resp = await api.post(f"/v1/identifications/{ident}/eds", body)
    return resp.status, await resp.json()


@pytest.fixture
async def sim(
    aiohttp_client: Any, dsn: str, keys: LocalKeyStore, simulator: Simulator, tmp_path: Path
) -> tuple[Api, Simulator]:
    return await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path), simulator


async def test_eds_step_passes_once_and_replays_fail(sim: tuple[Api, Simulator]) -> None:
    api, nca = sim
    client = await register(api, individual())
    gost = pair_of(await nca.issue())
    ident = await open_identification(api, client)
    data = await challenge(api, ident)
    cms = create_cms_signature_from_base64(gost, data, attached=True)
    status, step = await submit(api, ident, cms)
    assert (status, step["outcome"], step["reasons"]) == (200, "passed", []), step
    assert step["details"]["test_pki"] is False and step["details"]["subject_type"] == "individual"
    assert step["details"]["revocation"]["status"] == "good" and step["details"]["revocation"]["source"] == "ocsp"
    state = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert [(s["method"], s["outcome"]) for s in state["steps"]] == [("eds", "passed")]
    assert state["status"] == "completed"  # EDS alone completes a registration

    status, again = await submit(api, ident, cms)  # the same CMS, same identification: it takes no more steps
    assert status == 409 and again["code"] == "identification_closed"
    other = await open_identification(api, client, "login")
    await challenge(api, other)
    status, elsewhere = await submit(api, other, cms)  # ... and on another identification
    assert status == 409 and {"evidence_reused", "challenge_mismatch"} <= set(elsewhere["reasons"])
    later = datetime.now(UTC) + timedelta(seconds=5)  # a different CMS over the spent challenge
    fresh = base64.b64encode(sign_cms(gost, base64.b64decode(data), signing_time=later)).decode()
    status, spent = await submit(api, other, fresh)
    assert (status, spent["outcome"], spent["reasons"]) == (200, "failed", ["challenge_mismatch"]), spent
    # A failed attempt spends its challenge: a right signature over it afterwards is refused as used.
    third = await open_identification(api, client, "login")
    data = await challenge(api, third)
    stranger = pair_of(await nca.issue(iin="900101300126"))
    status, wrong = await submit(api, third, create_cms_signature_from_base64(stranger, data, attached=True))
    assert (status, wrong["outcome"]) == (200, "failed") and "iin_mismatch" in wrong["reasons"], wrong
    status, spent = await submit(api, third, create_cms_signature_from_base64(gost, data, attached=True))
    assert status == 409 and spent["reasons"] == ["challenge_used"], spent

    rsa = pair_of(await nca.issue(algorithm="rsa"))
    data = await challenge(api, other)
    detached = create_cms_signature_from_base64(rsa, data, attached=False)
    status, step = await submit(api, other, detached)  # NCALayer's detached form needs the data back
    assert status == 200 and step["reasons"] == ["detached_content_missing", "challenge_unknown"]
    data = await challenge(api, other)
    detached = create_cms_signature_from_base64(rsa, data, attached=False)
    status, step = await submit(api, other, detached, data)
    assert (status, step["outcome"]) == (200, "passed"), step


async def test_eds_step_failures_are_named(sim: tuple[Api, Simulator]) -> None:
    api, nca = sim
    client = await register(api, individual())
    ident = await open_identification(api, client)
    revoked = await nca.issue()
    await nca.revoke(revoked["serial"])
    status, step = await submit(
        api, ident, create_cms_signature_from_base64(pair_of(revoked), await challenge(api, ident))
    )
    assert status == 200 and step["outcome"] == "failed" and step["reasons"] == ["revoked"], step

    stranger = pair_of(await nca.issue(iin="900101300126"))
    status, step = await submit(api, ident, create_cms_signature_from_base64(stranger, await challenge(api, ident)))
    assert step["reasons"] == ["iin_mismatch"], step

    mine = pair_of(await nca.issue())
    data = await challenge(api, ident)
    async with api.app[DB].engine.begin() as conn:
        await conn.execute(update(challenges).values(expires_at=datetime(2020, 1, 1, tzinfo=UTC)))
    status, step = await submit(api, ident, create_cms_signature_from_base64(mine, data))
    assert status == 200 and step["reasons"] == ["challenge_expired"], step

    random_data = base64.b64encode(b"not a challenge").decode()
    status, step = await submit(api, ident, create_cms_signature_from_base64(mine, random_data))
    assert step["reasons"] == ["challenge_unknown"]
    employee = pair_of(await nca.issue(bin=BIN, organization="ТОО Тест", role="ceo"))
    status, step = await submit(api, ident, create_cms_signature_from_base64(employee, await challenge(api, ident)))
    assert step["reasons"] == ["legal_entity_certificate"]
    state = await (await api.get(f"/v1/identifications/{ident}")).json()
    assert [s["outcome"] for s in state["steps"]] == ["failed"] * 5 and state["status"] == "pending"


async def test_legal_entity_needs_its_bin_and_an_allowed_role(sim: tuple[Api, Simulator]) -> None:
    api, nca = sim
    client = await register(api, legal_entity())
    cases = [
        ({"role": "ceo"}, []),
        ({"role": "sign"}, []),
        ({"role": "hr"}, ["role_not_allowed"]),
        ({"role": "ceo", "bin": "000140000003"}, ["bin_mismatch"]),
        ({"role": "ceo", "iin": "900101300126"}, ["iin_mismatch"]),
    ]
    for fields, reasons in cases:
        ident = await open_identification(api, client)  # a passed one completes its identification
        issued = await nca.issue(**({"bin": BIN, "organization": 'ТОО "Рога и копыта"'} | fields))
        cms = create_cms_signature_from_base64(pair_of(issued), await challenge(api, ident))
        status, step = await submit(api, ident, cms)
        assert (status, step["reasons"]) == (200, reasons), fields


async def test_verify_endpoints_report_revocation_by_ocsp_and_crl(
    simulator: Simulator, aiohttp_client: Any, dsn: str, keys: LocalKeyStore, tmp_path: Path
) -> None:
    # A good OCSP answer is reused for ocsp_cache_ttl_s (300 s by default): off here, to see the revocation at once.
    nca = simulator
    api = await sim_api(aiohttp_client, dsn, keys, nca, tmp_path, ocsp_cache_ttl_s=0)
    issued = await nca.issue(algorithm="rsa")
    cms = base64.b64encode(sign_cms(pair_of(issued), b"loan 42")).decode()
    good = await (await api.post("/v1/eds/cms/verify", {"cms": cms})).json()
    assert good["valid"] and good["signers"][0]["revocations"][0]["status"] == "good"
    assert good["signers"][0]["certificate"]["subject"]["iin"] == IIN
    assert len(good["signers"][0]["chain"]) == 3  # leaf, intermediate, pinned root
    await nca.revoke(issued["serial"])
    for check, source in ((["OCSP"], "ocsp"), (["CRL"], "crl"), (["OCSP", "CRL"], "ocsp")):
        if source == "crl":
            cache = api.app[VERIFIER].crl_cache
            assert cache is not None
            await cache.refresh()  # the background refresher would pick it up within crl_refresh_s
        result = await (await api.post("/v1/eds/cms/verify", {"cms": cms, "revocation_check": check})).json()
        assert result["signers"][0]["revocations"], result["signers"][0]["reasons"]
        revocation = result["signers"][0]["revocations"][0]
        assert not result["valid"] and result["signers"][0]["reasons"] == ["revoked"], check
        assert (revocation["source"], revocation["revoked"], revocation["revocation_time"] is not None) == (
            source,
            True,
            True,
        )
    info = await (await api.post("/v1/eds/x509/info", {"certificate": issued["certificate"]})).json()
    assert not info["valid"] and info["reasons"] == ["revoked"]
    unchecked = await (await api.post("/v1/eds/cms/verify", {"cms": cms, "revocation_check": []})).json()
    assert unchecked["valid"] and unchecked["signers"][0]["revocations"] == []


@pytest.fixture
def late_simulator(nca_template: Path, nca_port: int, tmp_path: Path) -> Iterator[Simulator]:
    """A simulator the test starts itself (stopped after the service, like `simulator`)."""
    shutil.copytree(nca_template, tmp_path / "nca")
    sim = Simulator(tmp_path / "nca", nca_port)
    yield sim
    sim.stop()


async def test_not_ready_until_the_simulator_answers(
    late_simulator: Simulator, aiohttp_client: Any, dsn: str, keys: LocalKeyStore, tmp_path: Path
) -> None:
    late = late_simulator
    settings = make_settings(dsn, pki=late.settings(tmp_path / "pki"), server={"process_workers": 1})
    api = await start_api(aiohttp_client, settings, keys)
    resp = await api.client.get("/readyz")
    assert resp.status == 503 and (await resp.json())["checks"]["trust"] is False
    verify = await api.post("/v1/eds/cms/verify", {"cms": "MAA="})
    assert verify.status == 503 and (await verify.json())["code"] == "trust_not_ready"
    late.start()
    verifier = api.app[VERIFIER]
    assert verifier is not None
    await asyncio.wait_for(verifier.wait_started(), 30)
    assert verifier.crl_cache is not None
    await verifier.crl_cache.refresh()  # ready also needs each CA's CRL (issue 11 §5), fetched in the background
    resp = await api.client.get("/readyz")
    checks = (await resp.json())["checks"]
    assert resp.status == 200 and checks["trust"] is True and checks["revocation"] is True


async def test_time_stamped_cms_is_judged_at_the_tsa_time(sim: tuple[Api, Simulator]) -> None:
    """RFC 3161 token from the simulator's TSA: imprint and TSA chain checked, genTime used, details reported."""
    api, nca = sim
    for algorithm in ("gost2015", "rsa"):
        pair = pair_of(await nca.issue(algorithm=algorithm))
        async with aiohttp.ClientSession() as http:
            der = await sign_cms_timestamped(http, f"{nca.url}/tsp/", pair, b"loan 43")
        result = await (await api.post("/v1/eds/cms/verify", {"cms": base64.b64encode(der).decode()})).json()
        [signer] = result["signers"]
        assert result["valid"] and signer["time_source"] == "timestamp", (algorithm, signer["reasons"])
        stamp = signer["timestamp"]
        assert stamp["valid"] and stamp["gen_time"] == signer["validated_at"]
        assert stamp["details"]["policy"].startswith("1.2.398.3.3.2.6.") and stamp["details"]["serial"]
        tampered = bytearray(der)
        tampered[-40] ^= 1  # inside the token's signature, at the very end of the CMS
        broken = await (
            await api.post("/v1/eds/cms/verify", {"cms": base64.b64encode(bytes(tampered)).decode()})
        ).json()
        assert not broken["valid"] and "timestamp_invalid" in broken["signers"][0]["reasons"], algorithm
        assert broken["signers"][0]["time_source"] == "now"


async def test_repeated_rsa_verification_is_answered_alike_from_the_loop(sim: tuple[Api, Simulator]) -> None:
    """Issue 3: the first verification of an RSA chain goes to the pool, which validates its path; later ones
    are verified on the event loop from the remembered path, with the same answer byte for byte. (That the
    loop stays responsive is measured by the benchmarks and guarded by tests/api/test_event_loop.py.)"""
    api, nca = sim
    pair = pair_of(await nca.issue(algorithm="rsa"))
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    body = {"cms": base64.b64encode(sign_cms(pair, b"loan 44")).decode(), "validation_time": at}
    first = await api.post("/v1/eds/cms/verify", body)
    expected = await first.text()
    assert first.status == 200 and '"valid":true' in expected
    verifier = api.app[VERIFIER]
    assert verifier is not None and len(validator_for(verifier.trust.bundle(), False).cache) >= 1
    answers = await asyncio.gather(*(api.post("/v1/eds/cms/verify", body) for _ in range(12)))
    assert [await a.text() for a in answers] == [expected] * 12
