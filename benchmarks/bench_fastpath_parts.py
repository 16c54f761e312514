"""The one-time code's fast path, part by part, in this process (issue 15, item 5): what `bench_request_path`
cannot resolve on a shared machine (its end-to-end CPU per request moves by ±20 % between runs), measured as CPU
time (`time.process_time`) per operation, the variants alternated in rounds in one process:

- a verification's database scopes (the read, the write, the settle: three autocommit scopes of one statement
  each) each on a connection of the pool's, or all on one (`Database.one_connection`), on PostgreSQL with
  uvloop, as the service runs;
- an HOTP window (10 counters of look-ahead, SHA-1) and a TOTP window (±1 step) checked;
- one access line written (the service's JSON formatter, to a file).

    .venv/bin/python -m benchmarks.bench_fastpath_parts [--rounds 5] [--parts codes,log,db] [--pg postgresql://…/db]

(``--parts codes,log`` runs on a tree from before `Database.one_connection`: the "before" of the same command.)
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable

import uvloop
from sqlalchemy import Integer, bindparam, literal, select

from authsvc import logs
from authsvc.methods.otp_codes import hotp, totp, verify_hotp, verify_totp
from authsvc.store.db import Database, Statement
from authsvc.store.engine import create_engine

_ONE = Statement(select(literal(1).label("one"), bindparam("x", type_=Integer).label("x")))
KEY = bytes(range(20))


def per_op(run: Callable[[int], object], n: int) -> float:
    """CPU µs per operation of ``run(n)``."""
    started = time.process_time()
    run(n)
    return 1e6 * (time.process_time() - started) / n


async def per_op_async(run: Callable[[int], Awaitable[object]], n: int) -> float:
    started = time.process_time()
    await run(n)
    return 1e6 * (time.process_time() - started) / n


async def scopes(db: Database, n: int, *, held: bool) -> None:
    """``n`` verifications' worth of database scopes: three autocommit scopes of one statement each."""
    for i in range(n):
        if held:
            async with db.one_connection():
                for _ in range(3):
                    async with db.autocommit() as tx:
                        await tx.one(_ONE, x=i)
        else:
            for _ in range(3):
                async with db.autocommit() as tx:
                    await tx.one(_ONE, x=i)


async def database_part(dsn: str, rounds: int, n: int) -> None:
    engine = create_engine(dsn)
    db = await Database.open(engine, dsn, pool_size=10)
    try:
        await scopes(db, 200, held=False)  # warm: the pool's connections, the statement prepared on each
        await scopes(db, 200, held=True)
        pooled, held = [], []
        for _ in range(rounds):
            pooled.append(await per_op_async(lambda k: scopes(db, k, held=False), n))
            held.append(await per_op_async(lambda k: scopes(db, k, held=True), n))
        p, h = statistics.median(pooled), statistics.median(held)
        print(
            f"  three scopes, a connection each from the pool: {p:.0f} µs ({min(pooled):.0f}–{max(pooled):.0f}); "
            f"on one connection: {h:.0f} µs ({min(held):.0f}–{max(held):.0f}); saved {p - h:.0f} µs per verification"
        )
    finally:
        await db.close()
        await engine.dispose()


def code_part(rounds: int, n: int) -> None:
    code = hotp(KEY, 1005)
    now = time.time()
    right = totp(KEY, now)
    h = [per_op(lambda k: [verify_hotp(KEY, code, 1000, look_ahead=10) for _ in range(k)], n) for _ in range(rounds)]
    t = [per_op(lambda k: [verify_totp(KEY, right, now) for _ in range(k)], n) for _ in range(rounds)]
    print(f"  HOTP window of 11 counters: {statistics.median(h):.1f} µs ({min(h):.1f}–{max(h):.1f})")
    print(f"  TOTP window of 3 steps: {statistics.median(t):.1f} µs ({min(t):.1f}–{max(t):.1f})")


def log_part(rounds: int, n: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".log") as out:
        handler = logging.StreamHandler(out)
        handler.setFormatter(logs.JsonFormatter())
        log = logging.getLogger("authsvc.bench.access")
        log.handlers[:], log.propagate = [handler], False
        log.setLevel(logging.INFO)
        fields = {
            "request_id": "5e1f0c2d9a7b4e38" + "0" * 16,
            "method": "GET",
            "route": "/v1/clients/{client_id}",
            "status": 404,
            "duration_ms": 1.23,
            "lender_id": "0b7f4c1e-5d2a-4e8b-9c3f-6a1d2e3f4a5b",
            "code": "client_not_found",
        }

        def lines(k: int) -> None:
            for _ in range(k):
                log.info("request", extra=fields)

        cost = [per_op(lines, n) for _ in range(rounds)]
    print(f"  one access line: {statistics.median(cost):.1f} µs ({min(cost):.1f}–{max(cost):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", default="codes,log,db")
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    print(f"CPU per operation, median of {args.rounds} rounds (range); load average {os.getloadavg()[0]:.1f}")
    parts = set(args.parts.split(","))
    if "codes" in parts:
        code_part(args.rounds, 5000)
    if "log" in parts:
        log_part(args.rounds, 5000)
    if "db" in parts:
        uvloop.run(database_part(args.pg, args.rounds, 1000))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
