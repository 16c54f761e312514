"""The request path's cost (issue 15, item 5), side by side in one run: each server's serving process pinned to
core 0, wrk on core 1 (beside PostgreSQL), the serving process's CPU per request read from /proc beside the rate.
The service runs as in production, `serve --workers 1`: one serving process, and the background jobs (the audit
chainer, the SMS outbox, webhooks) in a jobs process of their own, moved to core 1; its CPU is printed apart.

    .venv/bin/python -m benchmarks.bench_request_path [--seconds 5] [--concurrency 8] [--only paths|codes]
        [--pg postgresql://…/db]

paths: a bare aiohttp handler on uvloop (a JSON answer, nothing else), authsvc's ``/healthz`` (the request
  context: request id, metrics, access log), and an authenticated ``GET /v1/clients/{unknown id}``: the key
  check, the rate limit, metrics, the access log line and one row read (a 404, a problem+json answer). The
  service logs at INFO, so every request writes its access line (to a file), as in production.
codes: on the same service, right one-time codes verified each once: SMS codes of login identifications and
  HOTP hardware-token codes (tokens planted with the server's key, requests round 100 clients so one token's
  consecutive codes are 100 requests apart) — `benchmarks.bench_otp`'s planting, PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from benchmarks import server, wrk
from benchmarks.bench_otp import (
    CLIENTS,
    TOKEN_CLIENTS,
    _drop,
    lender_of,
    plant_codes,
    plant_tokens,
    register_clients,
    wrk_verify_result,
)
from benchmarks.bench_registration import _fresh_pg


def bare_server(port: int) -> None:
    """The yardstick: aiohttp and uvloop alone."""
    import uvloop
    from aiohttp import web

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", ok)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop())


def measure_bare(seconds: float, concurrency: int) -> wrk.WrkResult:
    port = server.free_port()
    cmd = [sys.executable, "-m", "benchmarks.bench_request_path", "--bare-server", str(port)]
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return wrk.run(proc.pid, f"http://127.0.0.1:{port}/healthz", seconds=seconds, concurrency=concurrency)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)  # a loaded machine stops it slowly
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def with_jobs(jobs_pid: int, measure: Callable[[], wrk.WrkResult]) -> tuple[wrk.WrkResult, str]:
    """One measurement, and what the jobs process spent meanwhile per request."""
    before = wrk.process_cpu_s(jobs_pid)
    result = measure()
    jobs_us = 1e6 * (wrk.process_cpu_s(jobs_pid) - before) / max(1, result.requests)
    return result, f"; jobs process {jobs_us:.0f} µs per request (not counted above)"


def paths(srv: server.Server, jobs_pid: int, seconds: float, concurrency: int) -> None:
    bare = measure_bare(seconds, concurrency)
    auth = {"Authorization": f"Bearer {srv.api_key}"}
    wrk.run(srv.pid, srv.base + "/healthz", seconds=1, concurrency=concurrency)  # warm up
    health, health_jobs = with_jobs(
        jobs_pid, lambda: wrk.run(srv.pid, srv.base + "/healthz", seconds=seconds, concurrency=concurrency)
    )
    unknown = f"{srv.base}/v1/clients/{uuid.uuid4()}"
    wrk.run(srv.pid, unknown, seconds=1, concurrency=concurrency, headers=auth)
    read, read_jobs = with_jobs(
        jobs_pid, lambda: wrk.run(srv.pid, unknown, seconds=seconds, concurrency=concurrency, headers=auth)
    )
    print(f"concurrency {concurrency}, {seconds:.0f} s each (rate and CPU ratios to the bare handler):")
    for label, result, jobs in (
        ("bare aiohttp handler", bare, ""),
        ("/healthz", health, health_jobs),
        ("authenticated 404 read", read, read_jobs),
    ):
        print(
            f"  {label}: {result.line()}; rate ×{result.rate / bare.rate:.2f}, "
            f"CPU ×{result.cpu_us / bare.cpu_us:.2f}{jobs}"
        )
    print(f"  the authenticated path over the bare handler: {read.cpu_us - bare.cpu_us:.0f} µs of CPU per request")


async def codes(dsn: str, srv: server.Server, jobs_pid: int, seconds: float, concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        clients = await register_clients(http, srv.base, CLIENTS)
        holders = await register_clients(http, srv.base, TOKEN_CLIENTS, first=1000)
    lender_id = await lender_of(dsn)
    # Each run needs fresh codes: an accepted code is never accepted again.
    planted = await plant_codes(dsn, srv, lender_id, clients, int((seconds + 1) * 4000 + 1000))
    rounds = int((seconds + 1) * 4000 // TOKEN_CLIENTS) + 10
    token_codes = await plant_tokens(dsn, srv, lender_id, holders, rounds)
    sms, sms_jobs = with_jobs(jobs_pid, lambda: wrk_verify_result(srv, planted, seconds, concurrency))
    hotp, hotp_jobs = with_jobs(jobs_pid, lambda: wrk_verify_result(srv, token_codes, seconds, concurrency))
    print(f"right codes verified once each, postgresql, concurrency {concurrency}, {seconds:.0f} s each:")
    print(f"  SMS codes: {sms.line()}{sms_jobs}")
    print(f"  HOTP codes: {hotp.line()}; CPU ×{hotp.cpu_us / sms.cpu_us:.2f} of an SMS code{hotp_jobs}")


def serving_and_jobs(dsn: str, srv: server.Server) -> tuple[server.Server, int]:
    """The serving process (measured) and the jobs process (moved to core 1, off the request core)."""
    pids = asyncio.run(server.started(dsn, 2))
    (api,), (jobs,) = pids["api"], pids["jobs"]
    subprocess.run(["taskset", "-p", "-c", "1", str(jobs)], check=True, capture_output=True)
    return dataclasses.replace(srv, pid=api), jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--only", choices=("paths", "codes"))
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return
    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; servers pinned to "
        f"core 0, wrk on core 1 with PostgreSQL; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    dsn = _fresh_pg(args.pg)
    big = "1000000000"
    env = {
        "AUTHSVC_SERVER_LOG_LEVEL": "INFO",  # the access log is part of the path measured
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        "AUTHSVC_FACTORS_SMS_B_URL": "",
        "AUTHSVC_FACTORS_VERIFY_LIMIT_PER_IP": big,
        "AUTHSVC_FACTORS_VERIFY_LIMIT_PER_CLIENT": big,
    }
    try:
        with server.running(dsn, extra_env=env, args=("--workers", "1")) as srv:
            api, jobs_pid = serving_and_jobs(dsn, srv)
            print(f"serve --workers 1: serving process {api.pid} measured, jobs process {jobs_pid} on core 1")
            if args.only in (None, "paths"):
                paths(api, jobs_pid, args.seconds, args.concurrency)
            if args.only in (None, "codes"):
                asyncio.run(codes(dsn, api, jobs_pid, args.seconds, args.concurrency))
    finally:
        asyncio.run(_drop(args.pg, dsn))
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
