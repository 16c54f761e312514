"""One right one-time code verified, in this process, against real PostgreSQL (issue 15, item 5): the CPU a
verification costs below HTTP (`authsvc.api.second_factors.verify_otp` and its answer rendered), where it
goes, and how many statements it sends. `bench_request_path --only codes` measures the whole request from
outside; this resolves its parts on a shared machine.

    .venv/bin/python -m benchmarks.bench_verify_inprocess [--n 2000] [--concurrency 8] [--factors sms,hotp]
        [--profile hotp] [--pg postgresql://…/db]

The service is built as a serving process of ``serve --workers 1`` (`Role.API`: no background jobs here),
with clients registered through its API; pending login identifications are planted in bulk, each completed
by its one right code (an SMS code, or an HOTP token's next code). CPU is `time.process_time` over ``--n``
verifications run ``--concurrency`` at a time; ``--profile`` prints cProfile's top functions for one factor.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from aiohttp.test_utils import TestServer

from authsvc.api.factor_steps import json_answer, step_result
from authsvc.api.second_factors import verify_otp
from authsvc.api.state import DB, FACTORS, KEYS
from authsvc.app import create_app
from authsvc.config import load_settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.methods.otp_codes import hotp
from authsvc.roles import Role
from authsvc.store import lenders
from authsvc.store import tokens as token_store
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade
from authsvc.store.schema import identifications
from benchmarks.bench_otp import _drop, client_body, login_row, plant_login_codes, settle_bulk_load
from benchmarks.bench_registration import _fresh_pg

Planted = list[tuple[str, str]]  # (identification id, its right code)

COUNTED = 200  # verifications in the untimed batch that counts statements


async def registered(base: str, key: str, count: int, first: int) -> list[str]:
    ids: list[str] = []
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        n = first
        while len(ids) < count:
            try:
                body = client_body(n)
            except ValueError:
                n += 1
                continue
            n += 1
            async with http.post(base + "/v1/clients", json=body) as resp:
                assert resp.status == 201, await resp.text()
                ids.append((await resp.json())["id"])
    return ids


async def plant_sms(app: web.Application, dsn: str, lender_id: str, clients: Sequence[str], n: int) -> Planted:
    return await plant_login_codes(dsn, app[FACTORS].code_key, lender_id, clients, n)


async def plant_hotp(app: web.Application, dsn: str, lender_id: str, clients: Sequence[str], n: int) -> Planted:
    """A token per client, codes round the clients (one token's consecutive codes ``len(clients)`` apart)."""
    seeds = {}
    async with app[DB].transaction() as tx:
        for k, client_id in enumerate(clients):
            seeds[client_id] = f"bench-seed-{k:08d}".encode() + bytes(4)
            await token_store.create(
                tx,
                app[KEYS],
                lender_id=lender_id,
                client_id=client_id,
                kind="hotp",
                secret=seeds[client_id],
                serial=f"B-{k}",
                status="active",
            )
    now = datetime.now(UTC)
    rounds = n // len(clients) + 1
    planted = [(str(uuid.uuid4()), hotp(seeds[c], r), c) for r in range(rounds) for c in clients][:n]
    rows = [login_row(ident_id, lender_id, client_id, now) for ident_id, _, client_id in planted]
    engine = create_engine(dsn)
    async with engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            await conn.execute(identifications.insert(), rows[i : i + 5000])
    await settle_bulk_load(engine, "identifications", "otp_tokens")
    await engine.dispose()
    return [(ident_id, code) for ident_id, code, _ in planted]


async def verify_all(app: web.Application, lender_id: str, factor: str, planted: Planted, concurrency: int) -> None:
    """Each planted code verified once, ``concurrency`` at a time, every one a completed login."""
    queue = iter(planted)

    async def worker() -> None:
        for ident_id, code in queue:
            done = await verify_otp(app, lender_id, ident_id, factor, code, None)  # type: ignore[arg-type]
            json_answer(step_result(done))
            assert done.view.ident.status.value == "completed", done.view.ident

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def count_statements(
    app: web.Application, lender_id: Any, factor: str, batch: list[Any], concurrency: int
) -> float:
    """Statements per verification, on a batch of its own: a query logger on every pooled connection costs
    ≈ 35–45 µs per verification (it splits each statement's text), so it is never on while CPU is timed."""
    pool = app[DB].pool
    assert pool is not None
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    seen: list[str] = []

    def logged(q: Any) -> None:
        seen.append(q.query)

    for conn in held:
        conn.add_query_logger(logged)
        await pool.release(conn)
    try:
        await verify_all(app, lender_id, factor, batch, concurrency)
    finally:
        again = [await pool.acquire() for _ in range(pool.get_max_size())]
        for conn in again:
            conn.remove_query_logger(logged)
            await pool.release(conn)
    return len(seen) / len(batch)


async def run(args: argparse.Namespace) -> None:
    dsn = args.dsn
    engine = create_engine(dsn)
    await upgrade(engine)
    await engine.dispose()
    keys = LocalKeyStore.generate()
    big = 10**9
    settings = load_settings(
        None,
        env={},
        database={"dsn": dsn},
        registry={"photo_face_check": False},
        factors={"sms_b_url": "", "verify_limit_per_ip": big, "verify_limit_per_client": big},
    )
    app = create_app(settings, keys=keys, role=Role.API)
    server = TestServer(app)
    await server.start_server()
    try:
        async with app[DB].transaction() as tx:
            lender, key = await lenders.create(tx, "bench")
        base = str(server.make_url(""))
        factors = args.factors.split(",")
        clients = await registered(base, key, 50, 0) if "sms" in factors else []
        holders = await registered(base, key, 100, 1000) if "hotp" in factors else []
        total = args.n * (args.rounds + 1) + 200 + COUNTED
        planted = {
            "sms": await plant_sms(app, dsn, lender.id, clients, total) if "sms" in factors else [],
            "hotp": await plant_hotp(app, dsn, lender.id, holders, total) if "hotp" in factors else [],
        }
        print(f"CPU per right code verified (completing a login), concurrency {args.concurrency}, PostgreSQL")
        at = {f: 0 for f in factors}
        for f in factors:  # warm: every pooled connection, its prepared statements
            await verify_all(app, lender.id, f, planted[f][:200], args.concurrency)
            at[f] = 200
        results: dict[str, list[float]] = {f: [] for f in factors}
        counted: dict[str, float] = {}
        for _ in range(args.rounds):
            for f in factors:
                batch = planted[f][at[f] : at[f] + args.n]
                at[f] += args.n
                started = time.process_time()
                await verify_all(app, lender.id, f, batch, args.concurrency)
                results[f].append(1e6 * (time.process_time() - started) / len(batch))
        for f in factors:
            counted[f] = await count_statements(
                app, lender.id, f, planted[f][at[f] : at[f] + COUNTED], args.concurrency
            )
            at[f] += COUNTED
        for f in factors:
            r = sorted(results[f])
            print(
                f"  {f}: {r[len(r) // 2]:.0f} µs median of {len(r)} rounds ({r[0]:.0f}–{r[-1]:.0f}), "
                f"{counted[f]:.1f} statements per verification"
            )
        if args.profile:
            f = args.profile
            batch = planted[f][at[f] : at[f] + args.n]
            profiler = cProfile.Profile(time.process_time)  # CPU: the loop's idle waits count nowhere
            profiler.enable()
            await verify_all(app, lender.id, f, batch, args.concurrency)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue())
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--factors", default="sms,hotp")
    parser.add_argument("--profile", choices=("sms", "hotp"))
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    args.dsn = _fresh_pg(args.pg)
    try:
        uvloop.run(run(args))
    finally:
        asyncio.run(_drop(args.pg, args.dsn))
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
