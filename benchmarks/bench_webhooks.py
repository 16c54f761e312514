"""What queueing a lender callback costs the transaction that causes it: `authsvc.webhooks.enqueue` per
event, on SQLite and PostgreSQL, for a subscribed lender (one INSERT … SELECT that writes a row) and for a
lender without an endpoint (the same statement, writing nothing), beside a bare round trip (``SELECT 1`` as a
prepared statement) on the same connection, which tells the statement's own cost from the machine's. Wall time
and this process's CPU time.

    .venv/bin/python -m benchmarks.bench_webhooks [--events 2000] [--pg postgresql://…/db]

Events are queued ``PER_TX`` to a transaction, as a flow's step queues at most one or two among its own writes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import literal, select
from sqlalchemy.engine import make_url

from authsvc.config import WebhookSettings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.store import lenders
from authsvc.store.db import Database, Statement, Tx
from authsvc.store.engine import create_engine
from authsvc.store.migrate import upgrade
from authsvc.webhooks import Endpoints, enqueue
from benchmarks.bench_registration import _fresh_pg

PER_TX = 10
DATA = {
    "identification_id": "7f1c2a8e-0000-4000-8000-000000000001",
    "client_id": "0b9d3c1e-0000-4000-8000-000000000002",
    "operation": "login",
    "profile": "res63-2021",
    "status": "completed",
}


async def measure(dsn: str, events: int) -> dict[str, tuple[float, float, float, float]]:
    engine = create_engine(dsn)
    await upgrade(engine)
    db = await Database.open(engine, dsn, pool_size=4)
    keys = LocalKeyStore.generate()
    try:
        async with db.transaction() as tx:
            subscribed, _ = await lenders.create(tx, "Subscribed MFO")
            silent, _ = await lenders.create(tx, "Silent MFO")
        await Endpoints(db, keys, WebhookSettings()).configure(
            subscribed.id, "https://hooks.example.kz/authsvc", ["identification.completed"]
        )
        out = {}
        baseline = Statement(select(literal(1)))

        async def bare(tx: Tx, _: str) -> None:
            await tx.scalar(baseline)

        async def queue(tx: Tx, lender_id: str) -> None:
            await enqueue(tx, lender_id, "identification.completed", DATA)

        cases: list[tuple[str, str, Callable[[Tx, str], Awaitable[None]]]] = [
            ("SELECT 1", silent.id, bare),
            ("subscribed", subscribed.id, queue),
            ("no endpoint", silent.id, queue),
        ]
        for label, lender_id, call in cases:
            for _ in range(20):  # warm-up: prepared statements, caches
                async with db.transaction() as tx:
                    await call(tx, lender_id)
            per_event: list[float] = []
            wall0, cpu0 = time.perf_counter(), time.process_time()
            for _ in range(events // PER_TX):
                async with db.transaction() as tx:
                    for _ in range(PER_TX):
                        t0 = time.perf_counter()
                        await call(tx, lender_id)
                        per_event.append(time.perf_counter() - t0)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            n = len(per_event)
            p99 = sorted(per_event)[int(n * 0.99)]
            # wall and CPU per event of the whole run (commits included), median of enqueue alone
            out[label] = (wall / n * 1e6, cpu / n * 1e6, statistics.median(per_event) * 1e6, p99 * 1e6)
        return out
    finally:
        await db.close()
        await engine.dispose()


async def _drop(admin_dsn: str, dsn: str) -> None:
    import asyncpg

    url, name = make_url(admin_dsn), make_url(dsn).database
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username, database=url.database)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {args.events} events, {PER_TX} per transaction")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("sqlite", f"sqlite:///{tmp}/bench-{uuid.uuid4().hex[:6]}.db")]
        pg = _fresh_pg(args.pg)
        runs.append(("postgresql", pg))
        try:
            for backend, dsn in runs:
                for label, (wall, cpu, median, p99) in asyncio.run(measure(dsn, args.events)).items():
                    print(
                        f"{backend:10} {label:12} per event: {wall:7.1f} µs wall, {cpu:7.1f} µs CPU "
                        f"(commits included); the call alone p50 {median:6.1f} µs, p99 {p99:7.1f} µs"
                    )
        finally:
            asyncio.run(_drop(args.pg, pg))


if __name__ == "__main__":
    main()
