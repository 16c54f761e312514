"""Issue 11 §5: a CRL source never vanishes without a word. Its issuer may spell the CA's file differently
(normalised paths); /readyz names a CA without a usable CRL; /metrics carries every CRL's age and state;
a CRL may come from a local file. Over HTTP against the NCA simulator."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp

from authsvc.api.state import VERIFIER
from authsvc.crypto.local_keys import LocalKeyStore
from tests.api.test_eds_simulator import (  # noqa: F401  (fixtures)
    Simulator,
    nca_port,
    nca_template,
    sim_api,
    simulator,
)
from tests.conftest import Api

STEMS = ("nca_gost2022_test", "nca_rsa2022_test")


async def download(url: str, to: Path) -> str:
    to.parent.mkdir(parents=True, exist_ok=True)
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, url
        body = await resp.read()
    await asyncio.to_thread(to.write_bytes, body)
    return str(to)


async def crls_started(api: Api) -> None:
    verifier = api.app[VERIFIER]
    assert verifier is not None
    await asyncio.wait_for(verifier.wait_started(), 30)
    assert verifier.crl_cache is not None
    await verifier.crl_cache.refresh()


async def crl_verdict(api: Api, certificate: str) -> dict[str, Any]:
    body = {"certificate": certificate, "revocation_check": ["CRL"]}
    resp = await api.post("/v1/eds/x509/info", body)
    assert resp.status == 200, await resp.text()
    result: dict[str, Any] = await resp.json()
    return result


async def test_crl_issuer_spelled_with_dotdot_is_the_intermediate_file(
    simulator: Simulator,  # noqa: F811
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    files = [await download(f"{simulator.url}/cert/{s}.cer", tmp_path / "nca" / f"{s}.cer") for s in STEMS]
    crls = [
        {"url": f"{simulator.url}/crl/{s}.crl", "issuer": f"{tmp_path}/nca/../nca/./{s}.cer"}  # another spelling
        for s in STEMS
    ]
    api = await sim_api(
        aiohttp_client, dsn, keys, simulator, tmp_path, intermediate_urls=[], intermediate_files=files, crl_sources=crls
    )
    await crls_started(api)
    issued = await simulator.issue(algorithm="rsa")
    await simulator.revoke(issued["serial"])
    await crls_started(api)
    verdict = await crl_verdict(api, issued["certificate"])
    assert verdict["reasons"] == ["revoked"] and verdict["revocations"][0]["source"] == "crl", verdict
    ready = await api.client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["checks"]["revocation"] is True


async def test_readyz_names_the_ca_without_a_usable_crl_and_metrics_show_it(
    simulator: Simulator,  # noqa: F811
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    cert = f"{simulator.url}/cert/"
    crls = [
        {"url": f"{simulator.url}/crl/missing.crl", "issuer": f"{cert}nca_gost2022_test.cer"},  # 404
        {"url": f"{simulator.url}/crl/nca_rsa2022_test.crl", "issuer": f"{cert}nca_rsa2022_test.cer"},
    ]
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path, crl_sources=crls, revocation_order="crl_only")
    await crls_started(api)
    resp = await api.client.get("/readyz")
    ready = await resp.json()
    assert resp.status == 503 and ready["checks"]["revocation"] is False and ready["checks"]["trust"] is True
    reason = ready["reasons"]["revocation"]
    assert "GOST" in reason and "missing.crl" in reason and "RSA" not in reason, reason

    metrics = await (await api.client.get("/metrics")).text()
    usable = dict(re.findall(r'authsvc_crl_usable\{crl="full",issuer="([^"]+)"\} (\S+)', metrics))
    assert sorted(usable.values()) == ["0.0", "1.0"] and len(usable) == 2, metrics
    [(gost, _)] = [(k, v) for k, v in usable.items() if v == "0.0"]
    assert "GOST" in gost
    ages = dict(re.findall(r'authsvc_crl_age_seconds\{crl="full",issuer="([^"]+)"\} (\S+)', metrics))
    assert list(ages) == [next(k for k, v in usable.items() if v == "1.0")] and float(next(iter(ages.values()))) >= 0


async def test_a_crl_from_a_local_file(
    simulator: Simulator,  # noqa: F811
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    issued = await simulator.issue(algorithm="rsa")
    await simulator.revoke(issued["serial"])
    mirrored = await download(f"{simulator.url}/crl/nca_rsa2022_test.crl", tmp_path / "mirror" / "rsa.crl")
    crls = [{"url": f"file:{mirrored}", "issuer": f"{simulator.url}/cert/nca_rsa2022_test.cer"}]
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path, crl_sources=crls)
    await crls_started(api)
    verdict = await crl_verdict(api, issued["certificate"])
    assert verdict["reasons"] == ["revoked"] and verdict["revocations"][0]["source"] == "crl", verdict
    assert (await api.client.get("/readyz")).status == 200


async def test_with_ocsp_first_a_ca_without_a_crl_is_ready_until_its_responder_fails(
    simulator: Simulator,  # noqa: F811
    aiohttp_client: Any,
    dsn: str,
    keys: LocalKeyStore,
    tmp_path: Path,
) -> None:
    """Under ocsp_then_crl a stale or missing CRL alone is a metric; with OCSP failing too, not ready."""
    cert = f"{simulator.url}/cert/"
    crls = [
        {"url": f"{simulator.url}/crl/missing.crl", "issuer": f"{cert}nca_gost2022_test.cer"},
        {"url": f"{simulator.url}/crl/nca_rsa2022_test.crl", "issuer": f"{cert}nca_rsa2022_test.cer"},
    ]
    dead_ocsp = f"{simulator.url}/no-such-responder/"
    api = await sim_api(aiohttp_client, dsn, keys, simulator, tmp_path, crl_sources=crls, ocsp_url=dead_ocsp)
    await crls_started(api)
    assert (await api.client.get("/readyz")).status == 200  # OCSP not yet known to fail
    gost = await simulator.issue()
    info = await (await api.post("/v1/eds/x509/info", {"certificate": gost["certificate"]})).json()
    assert info["reasons"] == ["revocation_unavailable"], info
    resp = await api.client.get("/readyz")
    reason = (await resp.json())["reasons"].get("revocation", "")
    assert resp.status == 503 and "GOST" in reason and "OCSP" in reason, reason
