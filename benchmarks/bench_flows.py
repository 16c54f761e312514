"""Identification flows (issue 10): completed `res63-2021` identifications per second on one core, and the
flow's own CPU per step beside the method's cost.

    .venv/bin/python -m benchmarks.bench_flows [--seconds 5] [--concurrency 8] [--pg postgresql://…/db]
        [--only sqlite|postgresql] [--part http|overhead|liveness] [--completions 6]

1. Over HTTP, one `authsvc serve` process pinned to core 0 (`benchmarks.server`), the load generator and the
   NCA test-PKI simulator in this process on the other core:
   a. by EDS alone: `POST /v1/identifications` (registration) → `POST …/eds/challenge` → the client signs the
      challenge (RSA-2048, an NCA simulator key issued for the client's IIN) → `POST …/eds`, which completes
      the identification (the attestation signed, the registration completed). Completions/s, p50/p99 of each
      request, and the service's CPU per completion. CLIENTS clients each register again and again (the first
      completion marks the client identified; later ones find it so): the keys are RSA and issuing one per
      completion would cost the simulator more than the service's whole flow.
   b. by a one-time code: `login` identifications, each with a live SMS code planted in the database with the
      server's key beforehand (`benchmarks.bench_otp.plant_codes`), completed by one right code
      (`POST …/otp/verify`, R-6.5) — PostgreSQL only (the planting tunes PostgreSQL).
   c. by OTP + liveness (`--part liveness`, R-7.3a + R-7.3b; a short run: one liveness decision is CPU-heavy):
      `POST /v1/identifications` (registration) → `POST …/otp` → the code read from the SMS simulator (in this
      process) → `POST …/otp/verify` (still pending: liveness missing) → `POST …/liveness/script` → the client
      "records" the script (the capture simulator renders a 4 s 10 fps laptop-camera MP4 of a real photo on
      this core, not timed) → `POST …/liveness`, which completes it. Every capture is rendered first; then
      they are submitted ``--concurrency`` at a time (the service's one pool worker, pinned with it to core
      0, judges them). Completions/s of that phase, each request's wall time, and the service's CPU (its
      process and its pool) per completion, for the whole flow and for the liveness step.
2. In this process (SQLite file and a fresh PostgreSQL database): CPU (`time.process_time`) and wall time per
   call of the flow's own parts — `Flows.open`, `Flows.open_for` (the still-open read),
   `StepRecorder(...)(passed)` (the step, audit entry rows), `Flows.settle` leaving the identification pending
   (res108 registration after a passed EDS step: the telco check missing), `Flows.settle` completing it (the
   read, judge, attestation signature, the END statement with the registration completed and the callback
   queued), and `judge()` alone; median of rounds. The process's CPU includes the app's background tasks,
   chiefly the audit chainer linking the entries the calls wrote (≈ a handful of statements a round, every
   0.1 s while entries arrive). PostgreSQL's own server CPU is outside this process: the wall time shows it
   (there, mostly the commit's WAL flush).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from authsvc.api.state import DB, FLOWS
from authsvc.app import create_app
from authsvc.config import load_settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.flows.judge import Taken, judge
from authsvc.flows.session import Flows
from authsvc.store import lenders
from authsvc.store.identifications import Identification, Operation
from benchmarks import load, server
from benchmarks.bench_eds import cpu_seconds, start_simulator
from benchmarks.bench_otp import _drop, client_body, iin_of, plant_codes
from benchmarks.bench_registration import _fresh_pg
from simulators.nca.signer import KeyPair, create_cms_signature_from_base64

CLIENTS = 32
ROUNDS = 5
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


# --- 1c. OTP + liveness ---------------------------------------------------------------------------------


@dataclass
class Prepared:
    ident: str
    challenge_id: str
    video: bytes
    walls_ms: dict[str, float]  # each request before the capture, and the code's arrival by SMS


def render_capture(script: dict[str, Any], seed: int) -> bytes:
    """The client recording the script: a live session of a real photo (the capture simulator), as MP4."""
    from liveness.images import decode_image
    from liveness.script import Script
    from simulators.capture.session import SessionSpec, mp4_bytes, simulate
    from tests.shared import fixture_path

    photo = decode_image(fixture_path("faces", "alex_lacamoire_1.jpg").read_bytes())
    capture = simulate(photo, Script.from_dict(script), SessionSpec(kind="live", fps=10.0, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        return mp4_bytes(capture, Path(tmp))


async def otp_liveness(srv: server.Server, sms_url: str, completions: int, concurrency: int) -> list[str]:
    import base64

    from tests.shared import fixture_path

    headers = {"Authorization": f"Bearer {srv.api_key}"}
    base = srv.base + "/v1/identifications"
    from benchmarks.bench_liveness_step import card_jpeg

    photo = base64.b64encode(fixture_path("faces", "alex_lacamoire_3.jpg").read_bytes()).decode()
    card = base64.b64encode(card_jpeg("alex_lacamoire_2.png")).decode()  # res63-2021 matches to it (R-7.3b(i))
    body = {
        **client_body(126),
        "photo": {"content_type": "image/jpeg", "data": photo},
        "id_document_image": {"content_type": "image/jpeg", "data": card},
    }
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(srv.base + "/v1/clients", json=body) as resp:
            assert resp.status == 201, await resp.text()
            client_id = (await resp.json())["id"]

        async def sms_texts() -> list[str]:
            async with http.get(sms_url + "/messages", params={"to": body["phone"]}) as resp:
                return [m["text"] for m in (await resp.json())["messages"]]

        async def timed(name: str, walls: dict[str, float], method: str, url: str, **kw: Any) -> dict[str, Any]:
            t0 = time.perf_counter()
            async with http.request(method, url, **kw) as resp:
                out: dict[str, Any] = await resp.json()
                assert resp.status in (200, 201, 202), (name, resp.status, out)
            walls[name] = (time.perf_counter() - t0) * 1000
            return out

        async def capture(ident: str, walls: dict[str, float], seed: int) -> tuple[str, bytes]:
            issued = await timed("liveness script", walls, "POST", f"{base}/{ident}/liveness/script")
            return issued["challenge_id"], render_capture(issued["script"], seed)

        async def prepare(n: int) -> Prepared:
            walls: dict[str, float] = {}
            opened = await timed(
                "open", walls, "POST", base, json={"client_id": client_id, "operation": "registration"}
            )
            ident = opened["id"]
            seen = len(await sms_texts())
            await timed("otp send", walls, "POST", f"{base}/{ident}/otp", json={})
            t0 = time.perf_counter()
            texts = await sms_texts()
            while len(texts) <= seen:  # the SMS outbox sends it; the client reads it
                await asyncio.sleep(0.01)
                texts = await sms_texts()
            walls["code arrives"] = (time.perf_counter() - t0) * 1000
            found = re.search(r"\b(\d{6})\b", texts[-1])
            assert found, texts[-1]
            verified = await timed(
                "otp verify",
                walls,
                "POST",
                f"{base}/{ident}/otp/verify",
                json={"factor": "sms", "code": found.group(1)},
            )
            assert verified["identification_status"] == "pending" and "liveness" in verified["next_methods"], verified
            challenge_id, video = await capture(ident, walls, seed=n + 1)
            return Prepared(ident, challenge_id, video, walls)

        async def submit(ident: str, challenge_id: str, video: bytes) -> tuple[float, dict[str, Any]]:
            form = aiohttp.FormData()
            form.add_field("challenge_id", challenge_id)
            form.add_field("video", video, filename="capture.mp4", content_type="video/mp4")
            t0 = time.perf_counter()
            async with http.post(f"{base}/{ident}/liveness", data=form) as resp:
                out: dict[str, Any] = await resp.json()
            return (time.perf_counter() - t0) * 1000, out

        async def retried(ident: str, out: dict[str, Any], seed: int) -> tuple[dict[str, Any], int]:
            """As a person would: a refused genuine capture is recorded again (up to three tries, R-7.3b)."""
            tries = 1
            while out.get("identification_status") == "pending" and tries < 3:
                challenge_id, video = await capture(ident, {}, seed + 1000 * tries)
                _wall, out = await submit(ident, challenge_id, video)
                tries += 1
            return out, tries

        warm = await prepare(10_000)  # models loaded, caches filled: not counted
        await retried(warm.ident, (await submit(warm.ident, warm.challenge_id, warm.video))[1], 10_000)

        cpu0 = cpu_seconds(srv.pid)
        ready = [await prepare(n) for n in range(completions)]
        cpu1 = cpu_seconds(srv.pid)
        gate = asyncio.Semaphore(concurrency)

        async def first(p: Prepared) -> tuple[float, dict[str, Any]]:
            async with gate:
                return await submit(p.ident, p.challenge_id, p.video)

        t0 = time.perf_counter()
        outcomes = await asyncio.gather(*(first(p) for p in ready))
        wall = time.perf_counter() - t0
        cpu2 = cpu_seconds(srv.pid)
        finals = [await retried(p.ident, out, n) for n, (p, (_w, out)) in enumerate(zip(ready, outcomes, strict=True))]
        cpu3 = cpu_seconds(srv.pid)
    at_once = sum(o.get("identification_status") == "completed" for _, o in outcomes)
    done = sum(o.get("identification_status") == "completed" for o, _ in finals)
    submissions = sum(tries for _, tries in finals)
    refused = [o.get("reasons") for _, o in outcomes if o.get("identification_status") != "completed"]
    lines = [
        f"{at_once}/{completions} completed by the first capture in {wall:.1f} s: {at_once / wall:.2f} "
        f"completions/s with the captures ready (concurrency {concurrency})"
        + (f"; refused first: {refused}" if refused else ""),
        f"{done}/{completions} completed after up to three captures each ({submissions} captures judged)",
        f"service CPU per completed identification, whole flow: {(cpu3 - cpu0) / max(done, 1) * 1000:,.0f} ms "
        f"(before the capture {(cpu1 - cpu0) / completions * 1000:,.0f} ms each; a first capture judged "
        f"{(cpu2 - cpu1) / completions * 1000:,.0f} ms"
        + (
            f"; a retry (script and capture) {(cpu3 - cpu2) / (submissions - completions) * 1000:,.0f} ms"
            if submissions > completions
            else ""
        )
        + ")",
    ]
    for name in ready[0].walls_ms:
        values = [p.walls_ms[name] for p in ready]
        lines.append(f"{name} p50 {pct(values, 50):.1f} ms p99 {pct(values, 99):.1f} ms")
    submits = [w for w, _ in outcomes]
    lines.append(
        f"first liveness submit (queued behind the others) p50 {pct(submits, 50):.0f} ms p99 {pct(submits, 99):.0f} ms"
    )
    return lines


def liveness_part(name: str, dsn: str | None, completions: int, concurrency: int) -> None:
    from aiohttp import web

    from simulators.sms.app import create_app as sms_app

    port = server.free_port()
    env = {
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        "AUTHSVC_FACTORS_SMS_A_URL": f"http://127.0.0.1:{port}",
        "AUTHSVC_FACTORS_SMS_B_URL": "",
        "AUTHSVC_FACTORS_OTP_RESEND_COOLDOWN_S": "0",
        "AUTHSVC_LIVENESS_SCRIPT_TTL_S": "3600",  # every capture is rendered before the first is submitted
        **OTP_LIMITS,
    }
    with server.running(dsn, extra_env=env) as srv:

        async def go() -> list[str]:
            runner = web.AppRunner(sms_app(name="gw-a", delivery_delay_ms=0), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                return await otp_liveness(srv, f"http://127.0.0.1:{port}", completions, concurrency)
            finally:
                await runner.cleanup()

        lines = asyncio.run(go())
    print(f"res63-2021 registration by OTP + liveness, {name}:")
    for line in lines:
        print(f"  {line}")


# --- 2. the flow's own cost, in this process ----------------------------------------------------------


@dataclass
class Cost:
    cpu_us: float
    wall_us: float
    calls: int


async def measure(
    call: Callable[[Any], Awaitable[Any]],
    seconds: float,
    prepare: Callable[[], Awaitable[Any]] | None = None,
    batch: int = 1,
) -> Cost:
    """CPU and wall µs per ``call``: ROUNDS rounds of ``seconds / ROUNDS`` each, the median round. ``prepare``
    (untimed) makes each call's argument; without it calls are timed ``batch`` at a time."""
    cpu_rounds, wall_rounds, calls = [], [], 0
    for _ in range(ROUNDS):
        cpu = wall = 0.0
        n = 0
        end = time.perf_counter() + seconds / ROUNDS
        while time.perf_counter() < end:
            arg = await prepare() if prepare is not None else None
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(batch):
                await call(arg)
            cpu += time.process_time() - c0
            wall += time.perf_counter() - w0
            n += batch
        cpu_rounds.append(cpu / n * 1e6)
        wall_rounds.append(wall / n * 1e6)
        calls += n
    return Cost(statistics.median(cpu_rounds), statistics.median(wall_rounds), calls)


async def overhead_part(name: str, dsn: str, seconds: float) -> list[tuple[str, Cost]]:
    settings = load_settings(
        env={},
        database={"dsn": dsn},
        server={"process_workers": 1},
        rate_limit={"requests_per_window": 100_000_000},
        registry={"photo_face_check": False},
    )
    keys = LocalKeyStore.generate()
    app = create_app(settings, keys=keys)
    async with TestClient(TestServer(app)) as http:
        async with app[DB].transaction() as tx:
            lender, api_key = await lenders.create(tx, "Bench MFO")
        resp = await http.post("/v1/clients", json=client_body(126), headers={"Authorization": f"Bearer {api_key}"})
        assert resp.status == 201, await resp.text()
        client_id = (await resp.json())["id"]
        flows: Flows = app[FLOWS]
        db = app[DB]

        async def opened(operation: Operation, profile: str, eds_passed: bool) -> Identification:
            view = await flows.open(lender.id, client_id, operation, profile=profile)
            if eds_passed:
                recorder = flows.recorder(view.ident, "eds", {"cms_sha256": uuid.uuid4().hex * 2})
                async with db.transaction() as tx:
                    await tx.write(recorder(True))
            return view.ident

        out: list[tuple[str, Cost]] = []

        async def bare_read(_: Any) -> None:  # the floor: one statement through the store, nothing of the flow
            async with db.autocommit() as tx:
                await tx.scalar(select(1))

        out.append(
            ("for scale: a bare SELECT 1 through Database.autocommit", await measure(bare_read, seconds, batch=20))
        )
        login = await opened(Operation.LOGIN, "res63-2021", False)

        async def open_login(_: Any) -> None:
            await flows.open(lender.id, client_id, Operation.LOGIN, profile="res63-2021")

        label = "Flows.open (client read, lists, the identification and its audit entry in one statement)"
        out.append((label, await measure(open_login, seconds / 2, batch=5)))

        async def open_for(_: Any) -> None:
            await flows.open_for(lender.id, login.id)

        out.append(("Flows.open_for (the still-open read)", await measure(open_for, seconds, batch=20)))

        async def record(_: Any) -> None:
            flows.recorder(login, "otp_sms", {"factor": "sms", "code_id": "c0de"})(True)

        out.append(("StepRecorder(...)(passed): step + audit rows", await measure(record, seconds, batch=50)))

        pending = await opened(Operation.REGISTRATION, "res108", True)
        assert (await flows.settle(pending)).judgement.verdict == "pending"

        async def settle_pending(_: Any) -> None:
            await flows.settle(pending)

        out.append(
            ("Flows.settle → still pending (res108, telco missing)", await measure(settle_pending, seconds, batch=20))
        )

        async def fresh() -> Identification:
            return await opened(Operation.REGISTRATION, "res63-2021", True)

        async def settle_done(ident: Identification) -> None:
            view = await flows.settle(ident)
            assert view.ident.attestation is not None

        out.append(
            (
                "Flows.settle → completed (one read, judge, attestation, the one END statement with its audit "
                "entries, callback and the registration)",
                await measure(settle_done, seconds, fresh),
            )
        )
        profile = flows.profiles["res63-2021"]
        rule, facts = profile.rule("registration"), [Taken("eds", True)]

        async def judged(_: Any) -> None:
            judge(profile, rule, facts)

        out.append(
            ("judge() alone (res63-2021 registration, one passed EDS step)", await measure(judged, seconds, batch=200))
        )
        # The method's own write for comparison: a step recorded in its own transaction (Flows.record).

        async def recorded(_: Any) -> None:
            await flows.record(pending, "telco", False, {"reasons": ["bench"]})

        out.append(
            (
                "for scale: Flows.record (a step row + audit entry in its own transaction)",
                await measure(recorded, seconds / 2, batch=5),
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--part", choices=["http", "overhead", "liveness"])
    parser.add_argument("--completions", type=int, default=6, help="OTP + liveness completions (--part liveness)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"HTTP server pinned to core 0, load generator on the others; load average {load_before:.1f}"
    )
    other = [c for c in sorted(os.sched_getaffinity(0)) if c != 0] if hasattr(os, "sched_getaffinity") else []
    for name in ("sqlite", "postgresql"):
        if args.only and name != args.only:
            continue
        if args.part in (None, "http"):
            dsn = None if name == "sqlite" else _fresh_pg(args.pg)
            try:
                if other:
                    os.sched_setaffinity(0, set(other))
                http_part(name, dsn, args.seconds, args.concurrency)
            finally:
                if dsn is not None:
                    asyncio.run(_drop(args.pg, dsn))
        if args.part in (None, "liveness"):
            dsn = None if name == "sqlite" else _fresh_pg(args.pg)
            try:
                if other:
                    os.sched_setaffinity(0, set(other))
                liveness_part(name, dsn, args.completions, min(args.concurrency, 2))
            finally:
                if dsn is not None:
                    asyncio.run(_drop(args.pg, dsn))
        if args.part in (None, "overhead"):
            if other:
                os.sched_setaffinity(0, {0})  # one core, like the service
            with tempfile.TemporaryDirectory(prefix="bench-flows-") as tmp:
                dsn = f"sqlite:///{tmp}/flows.db" if name == "sqlite" else _fresh_pg(args.pg)
                try:
                    costs = asyncio.run(overhead_part(name, dsn, args.seconds))
                finally:
                    if name == "postgresql":
                        asyncio.run(_drop(args.pg, dsn))
            print(f"flow overhead per call, in process, {name} (CPU = this process only; median of {ROUNDS} rounds):")
            for label, cost in costs:
                print(f"  {label}: {cost.cpu_us:,.1f} µs CPU, {cost.wall_us:,.1f} µs wall ({cost.calls:,} calls)")
            if other:
                os.sched_setaffinity(0, {0, *other})
    print(
        f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )


if __name__ == "__main__":
    main()
