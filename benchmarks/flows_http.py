"""`bench_flows` over HTTP: completed `res63-2021` identifications by EDS alone and by one SMS code, against
one `authsvc serve` pinned to core 0 (the load generator and the NCA test-PKI simulator on the other core)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from benchmarks import load, server
from benchmarks.bench_eds import cpu_seconds, start_simulator
from benchmarks.bench_otp import client_body, iin_of, plant_codes
from simulators.nca.signer import KeyPair, create_cms_signature_from_base64

CLIENTS = 32
OTP_LIMITS = {  # as bench_otp: every planted code is verified once, from its own address
    f"AUTHSVC_FACTORS_{name}": "1000000000"
    for name in (
        "VERIFY_LIMIT_PER_IP",
        "VERIFY_LIMIT_PER_CLIENT",
        "SEND_LIMIT_PER_CLIENT",
        "SEND_LIMIT_PER_IP",
        "SEND_LIMIT_PER_PHONE",
        "SEND_LIMIT_PER_LENDER",
    )
}


def pki_env(sim_url: str, cache_dir: Path) -> dict[str, str]:
    """The service's [pki] section pointing at the NCA simulator (as configs/default.toml does at :8701)."""
    cert = f"{sim_url}/cert/"
    crls = [
        {"url": f"{sim_url}/crl/{s}.crl", "delta_url": f"{sim_url}/crl/{s}_d.crl", "issuer": f"{cert}{s}.cer"}
        for s in ("nca_gost2022_test", "nca_rsa2022_test")
    ]
    return {
        "AUTHSVC_SECURITY_TEST_PKI": "true",
        "AUTHSVC_PKI_ANCHOR_FILES": "[]",
        "AUTHSVC_PKI_ANCHOR_URLS": json.dumps([cert + "root_gost2022_test.cer", cert + "root_rsa2022_test.cer"]),
        "AUTHSVC_PKI_INTERMEDIATE_URLS": json.dumps([cert + "nca_gost2022_test.cer", cert + "nca_rsa2022_test.cer"]),
        "AUTHSVC_PKI_CRL_SOURCES": json.dumps(crls),
        "AUTHSVC_PKI_CACHE_DIR": str(cache_dir),
        "AUTHSVC_PKI_TRUST_RETRY_S": "0.2",
    }


async def wait_trusted(base: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(base + "/readyz") as resp:
                if resp.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the service never trusted the NCA simulator: " + await resp.text())
            await asyncio.sleep(0.2)


@dataclass
class Person:
    client_id: str
    pair: KeyPair


async def people(srv: server.Server, sim_url: str, n: int) -> list[Person]:
    """``n`` registered clients, each with an RSA-2048 NCA key issued for their IIN."""
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    out: list[Person] = []
    async with aiohttp.ClientSession() as http:
        serial = 0
        while len(out) < n:
            serial += 1
            try:
                body = client_body(serial)
            except ValueError:
                continue  # no check digit for this serial
            async with http.post(srv.base + "/v1/clients", json=body, headers=headers) as resp:
                assert resp.status == 201, await resp.text()
                client_id = (await resp.json())["id"]
            holder = {"iin": iin_of(serial), "surname": "Сериков", "first_name": "Арман", "algorithm": "rsa"}
            async with http.post(f"{sim_url}/admin/issue", json=holder) as resp:
                issued = await resp.json()
            out.append(Person(client_id, KeyPair.from_pem(issued["certificate_pem"], issued["private_key_pem"])))
    return out


@dataclass
class Phases:
    open: list[float]
    challenge: list[float]
    eds: list[float]


async def eds_completions(srv: server.Server, who: list[Person], seconds: float, concurrency: int) -> str:
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    phases = Phases([], [], [])
    counting = False
    wrong: list[str] = []

    async def complete(session: aiohttp.ClientSession, n: int) -> int:
        person = who[n % len(who)]
        t0 = time.perf_counter()
        body = {"client_id": person.client_id, "operation": "registration", "profile": "res63-2021"}
        async with session.post(srv.base + "/v1/identifications", json=body, headers=headers) as resp:
            if resp.status != 201:
                return resp.status
            ident = (await resp.json())["id"]
        t1 = time.perf_counter()
        async with session.post(f"{srv.base}/v1/identifications/{ident}/eds/challenge", headers=headers) as resp:
            if resp.status != 201:
                return resp.status
            data = (await resp.json())["data"]
        t2 = time.perf_counter()
        cms = create_cms_signature_from_base64(person.pair, data, attached=True)  # the client's side
        t3 = time.perf_counter()
        async with session.post(
            f"{srv.base}/v1/identifications/{ident}/eds", json={"cms": cms}, headers=headers
        ) as resp:
            out = await resp.json()
            status = resp.status
        t4 = time.perf_counter()
        if out.get("identification_status") != "completed":
            wrong.append(str(out)[:300])
            return 599
        if counting:
            phases.open.append((t1 - t0) * 1000)
            phases.challenge.append((t2 - t1) * 1000)
            phases.eds.append((t4 - t3) * 1000)
        return status

    # Warm-up: each client once (its certificate's path validated, its OCSP answer cached, the client identified).
    async with aiohttp.ClientSession() as session:
        for start in range(0, len(who), concurrency):
            statuses = await asyncio.gather(
                *(complete(session, n) for n in range(start, min(start + concurrency, len(who))))
            )
            assert set(statuses) == {200}, (statuses, wrong[:3])
    counting = True
    before = cpu_seconds(srv.pid)
    result = await load.run(complete, concurrency=concurrency, seconds=seconds, warmup=0.0)
    used = cpu_seconds(srv.pid) - before
    assert not wrong, wrong[:3]
    ok = sum(n for s, n in result.statuses.items() if s == 200)
    cells = [
        f"{ok / result.seconds:,.0f} completions/s over {result.seconds:.0f} s (statuses {dict(result.statuses)})",
        f"whole completion (3 requests + client signing) p50 {result.pct(50):.1f} ms, p99 {result.pct(99):.1f} ms",
    ]
    for name, values in (("open", phases.open), ("challenge", phases.challenge), ("eds", phases.eds)):
        cells.append(f"{name} p50 {pct(values, 50):.1f} ms p99 {pct(values, 99):.1f} ms")
    cells.append(
        f"service CPU {used / max(ok, 1) * 1e6:,.0f} µs per completion ({used / result.seconds:.0%} of core 0)"
    )
    return "; ".join(cells)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] if ordered else float("nan")


async def otp_completions(dsn: str, srv: server.Server, who: list[Person], seconds: float, concurrency: int) -> str:
    from sqlalchemy import text

    from authsvc.store.engine import create_engine

    engine = create_engine(dsn)
    async with engine.connect() as conn:
        lender_id = (await conn.execute(text("SELECT id FROM lenders"))).scalar_one()
    await engine.dispose()
    planted = await plant_codes(dsn, srv, lender_id, [p.client_id for p in who], int(seconds * 2500 + 3000))
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    wrong: list[str] = []

    offset = 0

    async def verify(session: aiohttp.ClientSession, n: int) -> int:
        ident, code = planted[offset + n]  # each code once
        body = {"code": code, "client_ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
        async with session.post(f"{srv.base}/v1/identifications/{ident}/otp/verify", json=body, headers=headers) as r:
            out = await r.json()
            if r.status == 200 and out.get("identification_status") != "completed":
                wrong.append(str(out)[:300])
                return 599
            return r.status

    warm = await load.run(verify, concurrency=concurrency, seconds=1.0, warmup=0.0)
    offset = warm.requests
    before = cpu_seconds(srv.pid)
    result = await load.run(verify, concurrency=concurrency, seconds=seconds, warmup=0.0)
    used = cpu_seconds(srv.pid) - before
    assert not wrong, wrong[:3]
    ok = result.statuses.get(200, 0)
    return (
        f"{ok / result.seconds:,.0f} completions/s over {result.seconds:.0f} s, p50 {result.pct(50):.1f} ms, "
        f"p99 {result.pct(99):.1f} ms (statuses {dict(result.statuses)}); service CPU "
        f"{used / max(ok, 1) * 1e6:,.0f} µs per completion ({used / result.seconds:.0%} of core 0)"
    )


def http_part(name: str, dsn: str | None, seconds: float, concurrency: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    sim_url, _loop = start_simulator(work / "nca")
    env = {"AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false", **OTP_LIMITS, **pki_env(sim_url, work / "pki")}
    with server.running(dsn, extra_env=env) as srv:

        async def go() -> None:
            t0 = time.perf_counter()
            await wait_trusted(srv.base)
            who = await people(srv, sim_url, CLIENTS)
            print(f"  ({CLIENTS} clients registered with their NCA keys in {time.perf_counter() - t0:.0f} s)")
            line = await eds_completions(srv, who, seconds, concurrency)
            print(f"res63-2021 registration by EDS alone (RSA-2048), {name}, concurrency {concurrency}: {line}")
            line = await eds_completions(srv, who, seconds / 2, 1)
            print(f"res63-2021 registration by EDS alone (RSA-2048), {name}, one at a time: {line}")
            if dsn is not None:
                line = await otp_completions(dsn, srv, who, seconds, concurrency)
                print(f"res63-2021 login by one right SMS code, {name}, concurrency {concurrency}: {line}")

        asyncio.run(go())
