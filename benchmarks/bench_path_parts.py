"""The authenticated request path's cost in one process (issue 15, item 5): what `bench_request_path` measures
end to end, without sockets or a load generator, so a shared machine's noise mostly cancels out in the ratios.

Raw HTTP/1.1 requests are fed to aiohttp's own protocol (`web.Server`, as `serve` runs it, on uvloop) through an
in-memory transport, ``--concurrency`` keep-alive connections at a time; CPU time (`time.process_time`) per
request is reported for three variants, alternated in rounds:

- bare: a plain aiohttp application answering ``{"status": "ok"}`` (the yardstick, as `bench_request_path`'s);
- healthz: authsvc's ``/healthz`` (request id, metrics, access line);
- read: an authenticated ``GET /v1/clients/{unknown id}`` on PostgreSQL: the key check, the rate limit,
  metrics, the access line and one row read, answered 404 problem+json.

The service logs at INFO to a file, line-buffered, as `serve` writes its stderr. ``--profile read`` prints
cProfile's top functions for one variant instead (cumulative and own time).

    .venv/bin/python -m benchmarks.bench_path_parts [--rounds 5] [--requests 4000] [--concurrency 8]
        [--profile bare|healthz|read] [--pg postgresql://…/db]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web

from authsvc import logs
from authsvc.api.state import DB
from authsvc.app import create_app
from authsvc.config import load_settings
from authsvc.crypto.local_keys import LocalKeyStore
from authsvc.roles import Role
from authsvc.store import lenders
from benchmarks.bench_otp import _drop
from benchmarks.bench_registration import _fresh_pg


class _Transport(asyncio.Transport):
    """A connection's socket in memory: what the server writes is gathered until a whole answer is in."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.answered: asyncio.Future[bytes] | None = None
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data
        end = self.out.find(b"\r\n\r\n")
        if end < 0 or self.answered is None or self.answered.done():
            return
        head = bytes(self.out[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self.out) >= end + 4 + length:
            answer = bytes(self.out[: end + 4 + length])
            del self.out[: end + 4 + length]
            self.answered.set_result(answer)

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


class Connections:
    """``n`` keep-alive connections to one `web.Server`, each sending one request after the other."""

    def __init__(self, server: web.Server, n: int) -> None:
        self.pairs = []
        for _ in range(n):
            transport, protocol = _Transport(), server()
            protocol.connection_made(transport)
            self.pairs.append((transport, protocol))

    async def run(self, request: bytes, total: int, expect: bytes) -> None:
        per = total // len(self.pairs)

        async def one(transport: _Transport, protocol: asyncio.Protocol) -> None:
            loop = asyncio.get_running_loop()
            for _ in range(per):
                transport.answered = loop.create_future()
                protocol.data_received(request)
                answer = await transport.answered
                if not answer.startswith(expect):
                    raise RuntimeError(f"unexpected answer: {answer[:300]!r}")

        await asyncio.gather(*(one(t, p) for t, p in self.pairs))

    def close(self) -> None:
        for transport, protocol in self.pairs:
            transport.closing = True
            protocol.connection_lost(None)


def _get(path: str, **headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1:8080", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def bare_app() -> web.Application:
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", ok)
    return app


async def measure(args: argparse.Namespace, dsn: str, log_path: Path) -> None:
    settings = load_settings(
        None,
        env={},
        database={"dsn": dsn},
        audit={"head_log": str(log_path.with_suffix(".heads"))},
        server={"process_workers": 1},
        registry={"photo_face_check": False},
        rate_limit={"requests_per_window": 1_000_000_000},
    )
    app = create_app(settings, role=Role.API, keys=LocalKeyStore.generate())
    runner = web.AppRunner(app, access_log=None)
    bare = web.AppRunner(bare_app(), access_log=None)
    await runner.setup()
    await bare.setup()
    try:
        async with app[DB].transaction() as tx:
            _, key = await lenders.create(tx, "bench")
        assert runner.server is not None and bare.server is not None
        variants: dict[str, tuple[web.Server, bytes, bytes]] = {
            "bare": (bare.server, _get("/healthz"), b"HTTP/1.1 200"),
            "healthz": (runner.server, _get("/healthz"), b"HTTP/1.1 200"),
            "read": (
                runner.server,
                _get(f"/v1/clients/{uuid.uuid4()}", Authorization=f"Bearer {key}"),
                b"HTTP/1.1 404",
            ),
        }
        conns = {name: Connections(srv, args.concurrency) for name, (srv, _, _) in variants.items()}

        async def run(name: str, n: int) -> float:
            _, request, expect = variants[name]
            started = time.process_time()
            await conns[name].run(request, n, expect)
            return 1e6 * (time.process_time() - started) / n

        for name in variants:  # warm: the pool's connections, prepared statements, metric children
            await run(name, 400)
        if args.profile:
            profile = cProfile.Profile(time.process_time)  # CPU: waits for PostgreSQL not counted
            profile.enable()
            await run(args.profile, args.requests)
            profile.disable()
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("tottime").print_stats(45)
            stats.sort_stats("cumulative").print_stats(60)
            print(text.getvalue())
            return
        costs: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name in variants:
                costs[name].append(await run(name, args.requests))
        # The median, and the least (the round least disturbed by the machine's other work).
        base, least = statistics.median(costs["bare"]), min(costs["bare"])
        for name, values in costs.items():
            m, low = statistics.median(values), min(values)
            print(
                f"  {name}: {m:.0f} µs CPU per request ({low:.0f}–{max(values):.0f}), ×{m / base:.2f} the bare "
                f"handler, {m - base:.0f} µs above it (least: {low:.0f} µs, ×{low / least:.2f}, {low - least:.0f} above)"
            )
        for c in conns.values():
            c.close()
    finally:
        await runner.cleanup()
        await bare.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--profile", choices=("bare", "healthz", "read"))
    parser.add_argument(
        "--pg", default=os.environ.get("AUTHSVC_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    print(
        f"CPU per request in one process, {args.concurrency} connections, median of {args.rounds} rounds of "
        f"{args.requests} (range); load average {os.getloadavg()[0]:.1f}"
    )
    dsn = _fresh_pg(args.pg)
    with tempfile.TemporaryDirectory(prefix="authsvc-parts-") as work:
        log_path = Path(work) / "access.log"
        stream = log_path.open("w", buffering=1, encoding="utf-8")  # line-buffered, as `serve`'s stderr
        logs._configure("INFO", True, stream)
        run: Callable[[], Any] = lambda: measure(args, dsn, log_path)  # noqa: E731
        try:
            uvloop.run(run())
        finally:
            stream.close()
            uvloop.run(_drop(args.pg, dsn))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
