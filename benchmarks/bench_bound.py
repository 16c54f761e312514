"""What the per-account guessing bound (issue 16) costs a right answer, measured in one run: SMS-code and HOTP
verifications (right code, each once; wrk, PostgreSQL) against two service processes that differ only in the
bound's reads, in alternating rounds.

    .venv/bin/python -m benchmarks.bench_bound [--rounds 6] [--seconds 5] [--concurrency 8] [--pg postgresql://…/db]
    .venv/bin/python -m benchmarks.bench_bound --same …   # both processes as deployed (A/A): the method's noise

Both processes run the same code, both pinned to core 0 (wrk on core 1), each with its own fresh database and
the same data planted (`benchmarks.bench_otp`); one starts with ``AUTHSVC_BENCH_BOUND_READS_OFF=1``
(`authsvc.store.bounds.BENCH_WITHOUT_READS`), which turns the person's failure count read with the
identification and the "below the bound" guard of a token's compare-and-set into constants. Those reads are all
a right answer pays for the bound when the person has no failures on record (the clear runs only when there
are). Both serve with ``--no-jobs``: the background jobs (the audit chainer catching up on a turn's entries)
would otherwise run on the shared core during the other's turn. The idle process waits on its socket while the
other is measured; the order within a round alternates
(on/off, off/on, …) so a drift of the machine's load falls on both, and the rounds are split into two blocks,
each with fresh processes and databases, started in the other order. ``--same`` runs both as deployed: the
method's own noise. Per round and factor: the rate and the
service's CPU per verification of each, and the ratios; at the end the medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

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
from simulators.sms.app import create_app as sms_app

VARIANTS = ("on", "off")  # the bound's reads on (as deployed) and off (the benchmark's switch)
FACTORS = ("sms", "hotp")


@dataclass
class Planted:
    """One variant's service and what is left of its planted requests per factor (consumed front to back:
    an HOTP token's codes must come in order)."""

    srv: server.Server
    items: dict[str, list[tuple[str, ...]]]
    next: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FACTORS, 0))
    results: dict[str, list[wrk.WrkResult]] = field(default_factory=lambda: {f: [] for f in FACTORS})


async def plant(dsn: str, srv: server.Server, rounds: int, seconds: float) -> Planted:
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        clients = await register_clients(http, srv.base, CLIENTS)
        holders = await register_clients(http, srv.base, TOKEN_CLIENTS, first=1000)
    lender_id = await lender_of(dsn)
    per_run = int(seconds * 3500 + 2000)  # more than a quiet machine verifies in a run
    codes = await plant_codes(dsn, srv, lender_id, clients, rounds * per_run)
    tokens = await plant_tokens(dsn, srv, lender_id, holders, rounds * (per_run // TOKEN_CLIENTS + 1))
    return Planted(srv, {"sms": list(codes), "hotp": list(tokens)})


def measure(p: Planted, factor: str, seconds: float, concurrency: int) -> wrk.WrkResult:
    start = p.next[factor]
    result = wrk_verify_result(p.srv, p.items[factor][start:], seconds, concurrency)
    # wrk sends the items in order; the ones in flight at the end may have been answered too: skip them.
    p.next[factor] = start + result.requests + concurrency
    p.results[factor].append(result)
    return result


async def serve_sms(port: int) -> web.AppRunner:
    runner = web.AppRunner(sms_app(name="gw-a", delivery_delay_ms=0), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--same", action="store_true", help="both processes with the bound's reads on: the method's own noise (A/A)"
    )
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; load {os.getloadavg()}"
    )
    sms_port = server.free_port()
    big = "1000000000"
    env = {
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        "AUTHSVC_FACTORS_SMS_A_URL": f"http://127.0.0.1:{sms_port}",
        "AUTHSVC_FACTORS_SMS_B_URL": "",
        "AUTHSVC_FACTORS_VERIFY_LIMIT_PER_IP": big,
        "AUTHSVC_FACTORS_VERIFY_LIMIT_PER_CLIENT": big,
    }
    loop = asyncio.new_event_loop()
    runner = loop.run_until_complete(serve_sms(sms_port))
    results: dict[str, dict[str, list[wrk.WrkResult]]] = {v: {f: [] for f in FACTORS} for v in VARIANTS}
    blocks = 2 if args.rounds > 1 else 1
    other = "also on (--same)" if args.same else "off"
    try:
        for block in range(blocks):
            # Which variant's process starts (and is planted) first alternates by block: the A/A run showed the
            # order alone moving CPU per verification by ~10 % on a loaded machine.
            starts = VARIANTS if block % 2 == 0 else VARIANTS[::-1]
            rounds = args.rounds // blocks + (1 if block < args.rounds % blocks else 0)
            dsns = {v: _fresh_pg(args.pg) for v in starts}
            try:
                with contextlib.ExitStack() as stack:
                    planted = {}
                    for v in starts:
                        off = v == "off" and not args.same
                        extra = env | ({"AUTHSVC_BENCH_BOUND_READS_OFF": "1"} if off else {})
                        srv = stack.enter_context(server.running(dsns[v], extra_env=extra, args=("--no-jobs",)))
                        planted[v] = loop.run_until_complete(plant(dsns[v], srv, rounds, args.seconds))
                    for r in range(rounds):
                        order = starts if r % 2 == 0 else starts[::-1]
                        for factor in FACTORS:
                            got = {v: measure(planted[v], factor, args.seconds, args.concurrency) for v in order}
                            on, off_ = got["on"], got["off"]
                            print(
                                f"block {block + 1} round {r + 1} {factor:4} bound on: {on.rate:7,.0f}/s"
                                f" {on.cpu_us:6,.0f} µs CPU (non-2xx {on.non_2xx}) | {other}: {off_.rate:7,.0f}/s"
                                f" {off_.cpu_us:6,.0f} µs CPU (non-2xx {off_.non_2xx}) | rate on/off"
                                f" {on.rate / off_.rate:.3f}, CPU on/off {on.cpu_us / off_.cpu_us:.3f};"
                                f" load {os.getloadavg()[0]:.1f}",
                                flush=True,
                            )
                    for v in VARIANTS:
                        for factor in FACTORS:
                            results[v][factor] += planted[v].results[factor]
            finally:
                for dsn in dsns.values():
                    loop.run_until_complete(_drop(args.pg, dsn))
        for factor in FACTORS:
            on_r, off_r = results["on"][factor], results["off"][factor]
            rates = [a.rate / b.rate for a, b in zip(on_r, off_r, strict=True)]
            cpus = [a.cpu_us / b.cpu_us for a, b in zip(on_r, off_r, strict=True)]
            print(
                f"{factor}: median over {len(rates)} rounds: rate on/off {statistics.median(rates):.3f}"
                f" (range {min(rates):.3f}–{max(rates):.3f}), CPU per verification on/off"
                f" {statistics.median(cpus):.3f} (range {min(cpus):.3f}–{max(cpus):.3f});"
                f" rate with the bound {statistics.median(a.rate for a in on_r):,.0f}/s"
            )
    finally:
        loop.run_until_complete(runner.cleanup())
        loop.close()


if __name__ == "__main__":
    main()
