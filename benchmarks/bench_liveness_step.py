"""Health-check latency while four liveness decisions run through the service (issue 4, item 7).

    .venv/bin/python -m benchmarks.bench_liveness_step

One service process (SQLite) with its process pool (one worker per core); four live captures rendered by
the capture simulator (640×480 laptop camera, 10 fps, 4 s scripts) are submitted at once while /healthz is
polled every 10 ms. Prints the health p50/p99 during the decisions and each decision's wall time.
"""

from __future__ import annotations

import asyncio
import base64
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import server
from liveness.images import decode_image
from liveness.script import Script
from simulators.capture.session import SessionSpec, mp4_bytes, simulate

FACES = (
    Path(os.environ.get("AUTHSVC_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared")) / "fixtures" / "faces"
)


def render(script: dict[str, Any], seed: int) -> bytes:
    photo = decode_image((FACES / "alex_lacamoire_1.jpg").read_bytes())
    capture = simulate(photo, Script.from_dict(script), SessionSpec(kind="live", fps=10.0, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        return mp4_bytes(capture, Path(tmp))


async def run(base: str, key: str, n: int) -> None:
    h = {"Authorization": f"Bearer {key}"}
    photo = base64.b64encode((FACES / "alex_lacamoire_3.jpg").read_bytes()).decode()
    async with aiohttp.ClientSession() as s:
        body = {
            "kind": "individual",
            "surname": "Тестов",
            "first_name": "Тест",
            "iin": "811201401188",
            "id_document": {"type": "id_card", "number": "041234567", "expires_on": "2031-05-01"},
            "phone": "+77012345678",
            "payout_via_terminal": True,
            "photo": {"content_type": "image/jpeg", "data": photo},
        }
        async with s.post(base + "/v1/clients", json=body, headers=h) as r:
            client = await r.json()
        jobs = []
        for i in range(n):
            async with s.post(
                base + "/v1/identifications", json={"client_id": client["id"], "operation": "login"}, headers=h
            ) as r:
                ident = (await r.json())["id"]
            async with s.post(base + f"/v1/identifications/{ident}/liveness/script", headers=h) as r:
                issued = await r.json()
            jobs.append((ident, issued["challenge_id"], render(issued["script"], seed=i + 1)))

        async def submit(ident: str, challenge: str, video: bytes) -> tuple[float, Any]:
            form = aiohttp.FormData()
            form.add_field("challenge_id", challenge)
            form.add_field("video", video, filename="c.mp4", content_type="video/mp4")
            t0 = time.perf_counter()
            async with s.post(base + f"/v1/identifications/{ident}/liveness", data=form, headers=h) as r:
                out = await r.json()
            return time.perf_counter() - t0, out

        health: list[float] = []
        done = asyncio.Event()

        async def probe() -> None:
            while not done.is_set():
                t0 = time.perf_counter()
                async with s.get(base + "/healthz") as r:
                    await r.read()
                health.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.01)

        prober = asyncio.create_task(probe())
        results = await asyncio.gather(*(submit(*job) for job in jobs))
        done.set()
        await prober
    health.sort()
    print(
        f"/healthz while {n} liveness decisions run: {len(health)} probes, p50 {statistics.median(health):.1f} ms, "
        f"p99 {health[int(len(health) * 0.99) - 1]:.1f} ms, max {health[-1]:.1f} ms"
    )
    for wall, out in results:
        print(f"  decision: {wall:.2f} s wall, passed={out.get('passed')}, reasons={out.get('reasons')}")


def main() -> None:
    print(f"machine: {platform.node()}, {os.cpu_count()} cores; service not pinned (its pool uses every core)")
    env = {"AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false", "AUTHSVC_SERVER_PROCESS_WORKERS": "0"}
    with server.running(None, core=None, extra_env=env) as srv:
        asyncio.run(run(srv.base, srv.api_key, 4))


if __name__ == "__main__":
    main()
