"""`bench_flows --part liveness`: completed `res63-2021` registrations by OTP + liveness over HTTP (a short
run: one liveness decision is CPU-heavy)."""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import server
from benchmarks.bench_eds import cpu_seconds
from benchmarks.bench_otp import client_body
from benchmarks.flows_http import OTP_LIMITS, pct


@dataclass
class Prepared:
    ident: str
    challenge_id: str
    video: bytes
    walls_ms: dict[str, float]  # each request before the capture, and the code's arrival by SMS


def render_capture(script: dict[str, Any], seed: int) -> bytes:
    """The client recording the script: a live session of a real photo (the capture simulator), as MP4."""
    from liveness.images import decode_image
    from liveness.script import Script
    from simulators.capture.session import SessionSpec, mp4_bytes, simulate
    from tests.shared import fixture_path

    photo = decode_image(fixture_path("faces", "alex_lacamoire_1.jpg").read_bytes())
    capture = simulate(photo, Script.from_dict(script), SessionSpec(kind="live", fps=10.0, seed=seed))
    with tempfile.TemporaryDirectory() as tmp:
        return mp4_bytes(capture, Path(tmp))


async def otp_liveness(srv: server.Server, sms_url: str, completions: int, concurrency: int) -> list[str]:
    import base64

    from benchmarks.bench_liveness_step import card_jpeg
    from tests.shared import fixture_path

    headers = {"Authorization": f"Bearer {srv.api_key}"}
    base = srv.base + "/v1/identifications"
    photo = base64.b64encode(fixture_path("faces", "alex_lacamoire_3.jpg").read_bytes()).decode()
    card = base64.b64encode(card_jpeg("alex_lacamoire_2.png")).decode()  # res63-2021 matches to it (R-7.3b(i))
    body = {
        **client_body(126),
        "photo": {"content_type": "image/jpeg", "data": photo},
        "id_document_image": {"content_type": "image/jpeg", "data": card},
    }
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(srv.base + "/v1/clients", json=body) as resp:
            assert resp.status == 201, await resp.text()
            client_id = (await resp.json())["id"]

        async def sms_texts() -> list[str]:
            async with http.get(sms_url + "/messages", params={"to": body["phone"]}) as resp:
                return [m["text"] for m in (await resp.json())["messages"]]

        async def timed(name: str, walls: dict[str, float], method: str, url: str, **kw: Any) -> dict[str, Any]:
            t0 = time.perf_counter()
            async with http.request(method, url, **kw) as resp:
                out: dict[str, Any] = await resp.json()
                assert resp.status in (200, 201, 202), (name, resp.status, out)
            walls[name] = (time.perf_counter() - t0) * 1000
            return out

        async def capture(ident: str, walls: dict[str, float], seed: int) -> tuple[str, bytes]:
            issued = await timed("liveness script", walls, "POST", f"{base}/{ident}/liveness/script")
            return issued["challenge_id"], render_capture(issued["script"], seed)

        async def prepare(n: int) -> Prepared:
            walls: dict[str, float] = {}
            opened = await timed(
                "open", walls, "POST", base, json={"client_id": client_id, "operation": "registration"}
            )
            ident = opened["id"]
            seen = len(await sms_texts())
            await timed("otp send", walls, "POST", f"{base}/{ident}/otp", json={})
            t0 = time.perf_counter()
            texts = await sms_texts()
            while len(texts) <= seen:  # the SMS outbox sends it; the client reads it
                await asyncio.sleep(0.01)
                texts = await sms_texts()
            walls["code arrives"] = (time.perf_counter() - t0) * 1000
            found = re.search(r"\b(\d{6})\b", texts[-1])
            assert found, texts[-1]
            verified = await timed(
                "otp verify",
                walls,
                "POST",
                f"{base}/{ident}/otp/verify",
                json={"factor": "sms", "code": found.group(1)},
            )
            assert verified["identification_status"] == "pending" and "liveness" in verified["next_methods"], verified
            challenge_id, video = await capture(ident, walls, seed=n + 1)
            return Prepared(ident, challenge_id, video, walls)

        async def submit(ident: str, challenge_id: str, video: bytes) -> tuple[float, dict[str, Any]]:
            form = aiohttp.FormData()
            form.add_field("challenge_id", challenge_id)
            form.add_field("video", video, filename="capture.mp4", content_type="video/mp4")
            t0 = time.perf_counter()
            async with http.post(f"{base}/{ident}/liveness", data=form) as resp:
                out: dict[str, Any] = await resp.json()
            return (time.perf_counter() - t0) * 1000, out

        async def retried(ident: str, out: dict[str, Any], seed: int) -> tuple[dict[str, Any], int]:
            """As a person would: a refused genuine capture is recorded again (up to three tries, R-7.3b)."""
            tries = 1
            while out.get("identification_status") == "pending" and tries < 3:
                challenge_id, video = await capture(ident, {}, seed + 1000 * tries)
                _wall, out = await submit(ident, challenge_id, video)
                tries += 1
            return out, tries

        warm = await prepare(10_000)  # models loaded, caches filled: not counted
        await retried(warm.ident, (await submit(warm.ident, warm.challenge_id, warm.video))[1], 10_000)

        cpu0 = cpu_seconds(srv.pid)
        ready = [await prepare(n) for n in range(completions)]
        cpu1 = cpu_seconds(srv.pid)
        gate = asyncio.Semaphore(concurrency)

        async def first(p: Prepared) -> tuple[float, dict[str, Any]]:
            async with gate:
                return await submit(p.ident, p.challenge_id, p.video)

        t0 = time.perf_counter()
        outcomes = await asyncio.gather(*(first(p) for p in ready))
        wall = time.perf_counter() - t0
        cpu2 = cpu_seconds(srv.pid)
        finals = [await retried(p.ident, out, n) for n, (p, (_w, out)) in enumerate(zip(ready, outcomes, strict=True))]
        cpu3 = cpu_seconds(srv.pid)
    at_once = sum(o.get("identification_status") == "completed" for _, o in outcomes)
    done = sum(o.get("identification_status") == "completed" for o, _ in finals)
    submissions = sum(tries for _, tries in finals)
    refused = [o.get("reasons") for _, o in outcomes if o.get("identification_status") != "completed"]
    lines = [
        f"{at_once}/{completions} completed by the first capture in {wall:.1f} s: {at_once / wall:.2f} "
        f"completions/s with the captures ready (concurrency {concurrency})"
        + (f"; refused first: {refused}" if refused else ""),
        f"{done}/{completions} completed after up to three captures each ({submissions} captures judged)",
        f"service CPU per completed identification, whole flow: {(cpu3 - cpu0) / max(done, 1) * 1000:,.0f} ms "
        f"(before the capture {(cpu1 - cpu0) / completions * 1000:,.0f} ms each; a first capture judged "
        f"{(cpu2 - cpu1) / completions * 1000:,.0f} ms"
        + (
            f"; a retry (script and capture) {(cpu3 - cpu2) / (submissions - completions) * 1000:,.0f} ms"
            if submissions > completions
            else ""
        )
        + ")",
    ]
    for name in ready[0].walls_ms:
        values = [p.walls_ms[name] for p in ready]
        lines.append(f"{name} p50 {pct(values, 50):.1f} ms p99 {pct(values, 99):.1f} ms")
    submits = [w for w, _ in outcomes]
    lines.append(
        f"first liveness submit (queued behind the others) p50 {pct(submits, 50):.0f} ms p99 {pct(submits, 99):.0f} ms"
    )
    # A completion's own time: its requests and the code's arrival, the recording of the capture not counted.
    whole = [sum(p.walls_ms.values()) + w for p, (w, _) in zip(ready, outcomes, strict=True)]
    lines.append(
        f"whole completion (requests + code arrival, recording excluded) p50 {pct(whole, 50):.0f} ms "
        f"p99 {pct(whole, 99):.0f} ms"
    )
    return lines


def liveness_part(name: str, dsn: str | None, completions: int, concurrency: int) -> None:
    from aiohttp import web

    from simulators.sms.app import create_app as sms_app

    port = server.free_port()
    env = {
        "AUTHSVC_REGISTRY_PHOTO_FACE_CHECK": "false",
        "AUTHSVC_FACTORS_SMS_A_URL": f"http://127.0.0.1:{port}",
        "AUTHSVC_FACTORS_SMS_B_URL": "",
        "AUTHSVC_FACTORS_OTP_RESEND_COOLDOWN_S": "0",
        "AUTHSVC_LIVENESS_SCRIPT_TTL_S": "3600",  # every capture is rendered before the first is submitted
        **OTP_LIMITS,
    }
    with server.running(dsn, extra_env=env) as srv:

        async def go() -> list[str]:
            runner = web.AppRunner(sms_app(name="gw-a", delivery_delay_ms=0), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                return await otp_liveness(srv, f"http://127.0.0.1:{port}", completions, concurrency)
            finally:
                await runner.cleanup()

        lines = asyncio.run(go())
    print(f"res63-2021 registration by OTP + liveness, {name}:")
    for line in lines:
        print(f"  {line}")
