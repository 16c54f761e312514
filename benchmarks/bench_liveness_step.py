"""The liveness step through the service: health-check latency under load (issue 4), its CPU (issue 13).

    .venv/bin/python -m benchmarks.bench_liveness_step          # /healthz while four decisions run
    .venv/bin/python -m benchmarks.bench_liveness_step --cpu    # CPU of one step, first use and later

Default: one service process (SQLite) with its process pool (one worker per core); four live captures rendered
by the capture simulator (640×480 laptop camera, 10 fps, 4 s scripts) are submitted at once while /healthz is
polled every 10 ms. Prints the health p50/p99 during the decisions and each decision's wall time.

``--cpu``: one service process with one pool worker, the captures submitted one at a time; the CPU of the
service's whole process tree (the server, the forkserver, the worker: utime + stime from /proc) over each
submission. Clients are registered without the face check, so a client's first step computes its photo's
face reference and keeps it (the lazy migration: what every step cost before references were kept) and its
later steps read it; a client registered with its identity document (an ID card rendered around another
photo) is matched against both references.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np

from benchmarks import server
from benchmarks.bench_registration import valid_iin
from liveness.images import decode_image
from liveness.script import Script
from simulators.capture.document import id_card
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
            # res63-2021 matches the live face to the identity document (R-7.3b(i))
            "id_document_image": {
                "content_type": "image/jpeg",
                "data": base64.b64encode(card_jpeg("alex_lacamoire_2.png")).decode(),
            },
        }
        headers = {**h, "Content-Type": "application/json"}
        async with s.post(base + "/v1/clients", data=io.BytesIO(json.dumps(body).encode()), headers=headers) as r:
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


def tree_cpu_s(root: int) -> float:
    """utime + stime of ``root`` and every live descendant, in seconds (from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(times.get(pid, 0.0) for pid in tree)


def card_jpeg(photo_name: str) -> bytes:
    card = id_card(decode_image((FACES / photo_name).read_bytes()), np.random.default_rng(1))
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(card[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


async def run_cpu(base: str, key: str, pid: int, clients: int, steps: int, with_documents: bool) -> None:
    h = {"Authorization": f"Bearer {key}"}
    photo = base64.b64encode((FACES / "alex_lacamoire_3.jpg").read_bytes()).decode()
    document = base64.b64encode(card_jpeg("alex_lacamoire_2.png")).decode()
    seed = 100
    async with aiohttp.ClientSession() as s:

        async def register(n: int, with_document: bool) -> str:
            body: dict[str, Any] = {
                "kind": "individual",
                "surname": "Тестов",
                "first_name": "Тест",
                "iin": valid_iin(n),
                "id_document": {"type": "id_card", "number": "041234567", "expires_on": "2031-05-01"},
                "phone": "+77012345678",
                "payout_via_terminal": True,
                "photo": {"content_type": "image/jpeg", "data": photo},
            }
            if with_document:
                body["id_document_image"] = {"content_type": "image/jpeg", "data": document}
            headers = {**h, "Content-Type": "application/json"}
            async with s.post(base + "/v1/clients", data=io.BytesIO(json.dumps(body).encode()), headers=headers) as r:
                assert r.status == 201, await r.text()
                client_id: str = (await r.json())["id"]
                return client_id

        per_step: list[str] = []  # seed:cpu of every step (the service draws each script at random: no two runs alike)

        async def step(client_id: str) -> tuple[float, Any]:
            nonlocal seed
            seed += 1
            async with s.post(
                base + "/v1/identifications", json={"client_id": client_id, "operation": "registration"}, headers=h
            ) as r:
                ident = (await r.json())["id"]
            async with s.post(base + f"/v1/identifications/{ident}/liveness/script", headers=h) as r:
                issued = await r.json()
            video = render(issued["script"], seed=seed)
            form = aiohttp.FormData()
            form.add_field("challenge_id", issued["challenge_id"])
            form.add_field("video", video, filename="c.mp4", content_type="video/mp4")
            before = tree_cpu_s(pid)
            async with s.post(base + f"/v1/identifications/{ident}/liveness", data=form, headers=h) as r:
                out = await r.json()
            cpu = tree_cpu_s(pid) - before
            per_step.append(f"{seed}:{cpu:.2f}")
            return cpu, out

        # res63-2021 matches every step to the identity document (R-7.3b(i)): a client without one is refused
        # before any decision, so every client gives it (--no-document: only for a base commit not asking it).
        await step(await register(0, with_documents))  # warm-up: the pool worker starts and loads the models
        first, later, both = (
            "first step (computes and keeps the photo's reference)",
            "later steps",
            "later steps, matched to the document too",
        )
        rows: dict[str, list[float]] = {first: [], later: [], both: []}
        outcomes: list[str] = []
        for n in range(clients):
            client_id = await register(n + 1, with_documents)
            for i in range(steps):
                cpu, out = await step(client_id)
                rows[first if i == 0 else later].append(cpu)
                outcomes.append(f"{out.get('passed')} {out.get('reasons')}")
        if with_documents:
            client_id = await register(clients + 1, True)  # its photo's reference, too, comes with its first step
            for i in range(steps):
                cpu, out = await step(client_id)
                rows[first if i == 0 else both].append(cpu)
                outcomes.append(f"{out.get('passed')} {out.get('reasons')} matched={out.get('matched')}")
    print("| liveness step (4 s, 640×480 @ 10 fps MP4) | n | CPU p50 | min | max |")
    print("|---|---|---|---|---|")
    for name, values in rows.items():
        if not values:
            continue
        print(
            f"| {name} | {len(values)} | {statistics.median(values):.3f} s | {min(values):.3f} s | "
            f"{max(values):.3f} s |"
        )
    print("outcomes:", "; ".join(outcomes))
    print("CPU per step, seed:s (warm-up first):", " ".join(per_step))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--cpu", action="store_true", help="the CPU of one step instead of /healthz under load")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="liveness steps per client")
    parser.add_argument("--no-document", action="store_true", help="no client with an identity document")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f}")
    env = {"AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false", "AUTHSVC_SERVER_PROCESS_WORKERS": "1" if args.cpu else "0"}
    with server.running(None, core=None, extra_env=env) as srv:
        if args.cpu:
            asyncio.run(run_cpu(srv.base, srv.api_key, srv.pid, args.clients, args.steps, not args.no_document))
        else:
            print("service not pinned (its pool uses every core)")
            asyncio.run(run(srv.base, srv.api_key, 4))


if __name__ == "__main__":
    main()
