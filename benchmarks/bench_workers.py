"""The production shape side by side in one run (issue 15 §6): plain `authsvc serve` (one process for the API
and the jobs), `serve --workers 1` (one serving process, the jobs in their own) and `serve --workers 2`, each on
a fresh PostgreSQL database:

1. OTP verifications per second (right code, each once; wrk, the `bench_otp` way: codes planted beforehand),
2. RSA-2048 CMS verifications per second (wrk; trust and OCSP from the NCA simulator, the path remembered),
3. SMS enqueue latency (`POST /v1/identifications/{id}/otp`) while the gateway takes 2 s per message, so the
   SMS worker holds hundreds of sends open — in the serving process, or in a process of its own.

Nothing is pinned: the service's processes, PostgreSQL and the load generator share the machine's cores, as on
a small host. So beside each rate the service's CPU per request (its process tree: supervisor, serving
processes, jobs process, pools) and how busy the whole machine was are printed: on two cores a second serving
process can only help as far as PostgreSQL and wrk leave a core free.

    .venv/bin/python -m benchmarks.bench_workers [--seconds 10] [--concurrency 16] [--pg postgresql://…/db]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from benchmarks import load, server
from benchmarks.bench_eds import cpu_seconds, issue, start_simulator
from benchmarks.bench_otp import LUA as OTP_LUA
from benchmarks.bench_otp import _drop, client_body, plant_codes
from benchmarks.bench_registration import _fresh_pg
from simulators.nca.signer import sign_cms
from simulators.sms.app import create_app as sms_app

CMS_LUA = Path(__file__).with_name("cms_verify.lua")
MODES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("serve", ()),
    ("serve --workers 1", ("--workers", "1")),
    ("serve --workers 2", ("--workers", "2")),
)
CLIENTS = 50
BIG = "1000000000"


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class Measured:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    service_cpu_s: float
    jobs_cpu_s: float | None  # of that, the jobs process's (None: the jobs run in the serving process)
    machine_busy: float  # 0..1 of all cores

    def line(self, label: str) -> str:
        def per(cpu: float) -> str:
            return f"{1e6 * cpu / self.requests:,.0f} µs" if self.requests else "–"

        jobs = f" (jobs process {per(self.jobs_cpu_s)})" if self.jobs_cpu_s is not None else ""
        return (
            f"{label}: {self.requests / self.seconds:,.0f}/s over {self.seconds:.1f} s, p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms, failed {self.failed}; service CPU {per(self.service_cpu_s)} per request"
            f"{jobs}, {self.service_cpu_s / self.seconds:.2f} cores; machine {100 * self.machine_busy:.0f} % busy"
        )


class Meter:
    """The service's CPU (its process tree; the jobs process's apart) and the machine's, over one measurement."""

    def __init__(self, pid: int, jobs_pid: int | None) -> None:
        self.pid, self.jobs_pid = pid, jobs_pid
        self.cpu = cpu_seconds(pid)
        self.jobs = cpu_seconds(jobs_pid) if jobs_pid is not None else 0.0
        self.busy, self.total = machine_jiffies()

    def done(self) -> tuple[float, float | None, float]:
        busy, total = machine_jiffies()
        jobs = cpu_seconds(self.jobs_pid) - self.jobs if self.jobs_pid is not None else None
        return cpu_seconds(self.pid) - self.cpu, jobs, (busy - self.busy) / max(1, total - self.total)


async def wrk(
    srv: server.Server,
    jobs_pid: int | None,
    script: Path,
    script_args: Sequence[str],
    seconds: float,
    concurrency: int,
) -> Measured:
    """wrk (C, one thread) as the load generator; this process's loop keeps serving the SMS simulator."""
    meter = Meter(srv.pid, jobs_pid)
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "-s", str(script), srv.base, "--", *script_args]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    out = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, out
    cpu, jobs, busy = meter.done()
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    requests, duration, p50, p99, bad_status, socket_errors = line.split()[1:]
    failed = int(bad_status) + int(socket_errors)
    return Measured(int(requests), float(duration), float(p50), float(p99), failed, cpu, jobs, busy)


async def register_clients(srv: server.Server) -> list[str]:
    clients: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {srv.api_key}"}) as http:
        for n in range(1000):
            if len(clients) == CLIENTS:
                break
            try:
                body = client_body(n)
            except ValueError:
                continue  # no check digit for this serial
            async with http.post(srv.base + "/v1/clients", json=body) as resp:
                assert resp.status == 201, await resp.text()
                clients.append((await resp.json())["id"])
    return clients


async def jobs_process(dsn: str, processes: int) -> int | None:
    """Once all ``processes`` have started: the jobs process's pid, or None when the jobs run in the serving
    process."""
    return next(iter((await server.started(dsn, processes)).get("jobs", [])), None)


async def lender_of(dsn: str) -> str:
    from sqlalchemy import text

    from authsvc.store.engine import create_engine

    engine = create_engine(dsn)
    try:
        async with engine.connect() as conn:
            lender_id: str = (await conn.execute(text("SELECT id FROM lenders"))).scalar_one()
            return lender_id
    finally:
        await engine.dispose()


async def fault(sms_url: str, body: dict[str, object] | None) -> None:
    async with aiohttp.ClientSession() as admin:
        if body is None:
            async with admin.delete(f"{sms_url}/admin/faults") as resp:
                assert resp.status == 204
        else:
            async with admin.post(f"{sms_url}/admin/faults", json=body) as resp:
                assert resp.status == 201


async def one_mode(
    label: str, args: tuple[str, ...], admin_dsn: str, nca: str, sms_url: str, cms_body: str, opts: argparse.Namespace
) -> None:
    seconds, concurrency = opts.seconds, opts.concurrency
    dsn = await asyncio.to_thread(_fresh_pg, admin_dsn)
    cert = f"{nca}/cert/"
    env = {
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        "AUTHSVC_FACTORS_SMS_A_URL": sms_url,
        "AUTHSVC_FACTORS_SMS_B_URL": "",
        "AUTHSVC_FACTORS_OTP_RESEND_COOLDOWN_S": "0",
        **{
            f"AUTHSVC_FACTORS_{name}": BIG
            for name in (
                "VERIFY_LIMIT_PER_IP",
                "VERIFY_LIMIT_PER_CLIENT",
                "SEND_LIMIT_PER_CLIENT",
                "SEND_LIMIT_PER_PHONE",
                "SEND_LIMIT_PER_IP",
                "SEND_LIMIT_PER_LENDER",
            )
        },
        "AUTHSVC_PKI_ANCHOR_URLS": f'["{cert}root_rsa2022_test.cer", "{cert}root_gost2022_test.cer"]',
        "AUTHSVC_PKI_INTERMEDIATE_URLS": f'["{cert}nca_rsa2022_test.cer", "{cert}nca_gost2022_test.cer"]',
        "AUTHSVC_PKI_CRL_SOURCES": "[]",
    }
    try:
        with server.running(dsn, core=None, extra_env=env, args=args) as srv:
            jobs_pid = await jobs_process(dsn, 1 if not args else int(args[1]) + 1)
            clients = await register_clients(srv)
            per_run = int(seconds * 5000 + 2000)
            planted = await plant_codes(dsn, srv, await lender_of(dsn), clients, per_run + 2000)
            items = srv.workdir / "verify-items.txt"
            items.write_text(
                "".join(
                    f"{ident} {code} 10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}\n"
                    for n, (ident, code) in enumerate(planted[:per_run])
                )
            )
            otp = await wrk(srv, jobs_pid, OTP_LUA, [str(items), srv.api_key], seconds, concurrency)
            print(otp.line(f"  {label}: OTP verifications, concurrency {concurrency}"), flush=True)

            body_file = srv.workdir / "cms.json"
            body_file.write_text(cms_body)
            # Warm: each serving process builds the path in its pool once and caches the OCSP answer.
            await wrk(srv, jobs_pid, CMS_LUA, [str(body_file), srv.api_key], opts.warmup, concurrency)
            cms = await wrk(srv, jobs_pid, CMS_LUA, [str(body_file), srv.api_key], seconds, concurrency)
            print(cms.line(f"  {label}: RSA-2048 CMS verifications, concurrency {concurrency}"), flush=True)

            await fault(sms_url, {"kind": "slow", "delay_ms": 2000, "count": None, "path": "/send"})
            targets = [ident for ident, _ in planted[per_run:]]
            headers = {"Authorization": f"Bearer {srv.api_key}"}

            async def send(session: aiohttp.ClientSession, n: int) -> int:
                body = {"client_ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
                url = f"{srv.base}/v1/identifications/{targets[n % len(targets)]}/otp"
                async with session.post(url, json=body, headers=headers) as resp:
                    await resp.read()
                    return resp.status

            meter = Meter(srv.pid, jobs_pid)
            result = await load.run(send, concurrency=opts.enqueue_concurrency, seconds=seconds)
            cpu, jobs, busy = meter.done()
            sent = Measured(
                result.requests,
                result.seconds,
                result.pct(50),
                result.pct(99),
                sum(v for k, v in result.statuses.items() if k != 202),
                cpu,
                jobs,
                busy,
            )
            where = "in the serving process" if not args else "in their own process"
            print(
                sent.line(
                    f"  {label}: SMS enqueue (gateway answers in 2 s, jobs {where}), "
                    f"concurrency {opts.enqueue_concurrency}"
                ),
                flush=True,
            )
            await fault(sms_url, None)
    finally:
        await _drop(admin_dsn, dsn)


async def main(opts: argparse.Namespace) -> None:
    # The SMS simulator's sends cut when a service stops are expected here: not worth a traceback each.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    load_before = os.getloadavg()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; nothing pinned; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average {load_before[0]:.1f} before",
        flush=True,
    )
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    nca, _ = start_simulator(work / "nca")
    rsa = await issue(nca, "rsa")
    cms_body = '{"cms": "' + base64.b64encode(sign_cms(rsa, b"loan contract 42")).decode() + '"}'
    runner = web.AppRunner(sms_app(name="gw-a", delivery_delay_ms=0), access_log=None)
    await runner.setup()
    sms_port = server.free_port()
    await web.TCPSite(runner, "127.0.0.1", sms_port).start()
    try:
        for label, args in MODES:
            await one_mode(label, args, opts.pg, nca, f"http://127.0.0.1:{sms_port}", cms_body, opts)
    finally:
        await runner.cleanup()
    print(f"load average {os.getloadavg()[0]:.1f} after", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--enqueue-concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of CMS verifications before measuring")
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    asyncio.run(main(parser.parse_args()))
