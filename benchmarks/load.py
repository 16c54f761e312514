"""A small closed-loop HTTP load generator (aiohttp): N concurrent workers for a fixed time, latency percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

Request = Callable[[aiohttp.ClientSession, int], Awaitable[int]]  # (session, n) -> HTTP status


@dataclass
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: Counter[int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(len(data) * p / 100))] if data else float("nan")

    def line(self, label: str) -> str:
        return (
            f"{label}: {self.rate:,.0f} req/s over {self.seconds:.1f} s, p50 {self.pct(50):.1f} ms, "
            f"p99 {self.pct(99):.1f} ms, mean {statistics.fmean(self.latencies_ms):.1f} ms, statuses {dict(self.statuses)}"
        )


async def run(request: Request, *, concurrency: int, seconds: float, warmup: float = 1.0) -> Result:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def worker() -> None:
            while (now := time.perf_counter()) < stop:
                status = await request(session, next(counter))
                done = time.perf_counter()
                if now >= measure_from:
                    latencies.append((done - now) * 1000)
                    statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(len(latencies), seconds, latencies, statuses)
