"""Identification flows (issue 10): completed `res63-2021` identifications per second on one core, and the
flow's own CPU per step beside the method's cost.

    .venv/bin/python -m benchmarks.bench_flows [--seconds 5] [--concurrency 8] [--pg postgresql://…/db]
        [--only sqlite|postgresql] [--part http|overhead|liveness|completions] [--completions 6]

    # the HTTP completion rates (EDS alone, one SMS code, OTP + liveness), both databases, one command:
    .venv/bin/python -m benchmarks.bench_flows --seconds 10 --part completions --completions 6

Parts: `flows_http` (1a, 1b), `flows_liveness` (1c), `flows_overhead` (2).

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
import os
import platform
import tempfile
from datetime import UTC, datetime

from benchmarks.bench_otp import _drop
from benchmarks.bench_registration import _fresh_pg
from benchmarks.flows_http import http_part
from benchmarks.flows_liveness import liveness_part
from benchmarks.flows_overhead import ROUNDS, overhead_part


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--part",
        choices=["http", "overhead", "liveness", "completions"],
        help="completions = http and liveness: every HTTP completion rate in one run",
    )
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
        if args.part in (None, "http", "completions"):
            dsn = None if name == "sqlite" else _fresh_pg(args.pg)
            try:
                if other:
                    os.sched_setaffinity(0, set(other))
                http_part(name, dsn, args.seconds, args.concurrency)
            finally:
                if dsn is not None:
                    asyncio.run(_drop(args.pg, dsn))
        if args.part in (None, "liveness", "completions"):
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
